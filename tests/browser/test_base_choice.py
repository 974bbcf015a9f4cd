"""A creator chooses LTX-2.5 on the Settings step in Chromium, on a server whose tiny preset offers both tiny bases
(TINY_MODEL_BASES=ltx-2.3,ltx-2.5), and the Launch step trains on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests import services
from tests.factories import make_ready_dataset
from tests.helpers import sign_in
from wizard.models import TrainingDraft

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def two_base_url(django_db_setup: None, django_db_blocker: Any, logs_dir: Path) -> Iterator[str]:
    """A web server of its own, started with TINY_MODEL_BASES=ltx-2.3,ltx-2.5 (the session's server offers one base;
    settings are read from the environment when a process starts)."""
    before = os.environ.get("TINY_MODEL_BASES")
    os.environ["TINY_MODEL_BASES"] = "ltx-2.3,ltx-2.5"
    try:
        with django_db_blocker.unblock(), services.asgi_server(logs_dir / "web-two-bases.log") as url:
            yield url
    finally:
        if before is None:
            os.environ.pop("TINY_MODEL_BASES", None)
        else:
            os.environ["TINY_MODEL_BASES"] = before


def test_a_creator_chooses_ltx_2_5_on_the_settings_step_and_launch_says_the_adapter_works_with_it_only(
    page: Page, two_base_url: str, creator, tmp_path: Path, screenshots_dir: Path
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    draft = TrainingDraft.objects.create(owner=creator, dataset=dataset, name="Street restore", step="config")
    sign_in(page, two_base_url, creator.username)
    page.goto(f"{two_base_url}/wizard/{draft.pk}/settings/")

    choice = page.locator("#base-choice")
    expect(choice.get_by_role("radio")).to_have_count(2)
    expect(choice.get_by_role("radio").first).to_be_checked()  # the default base, LTX-2.3
    expect(choice).to_contain_text("an adapter trained on it works with LTX-2.5 only")
    choice.get_by_text("LTX-2.5", exact=True).click()
    expect(choice.locator('input[value="ltx-2.5"]')).to_be_checked()
    expect(page.locator("#estimate")).to_contain_text("Until the adapter is ready")
    page.screenshot(path=screenshots_dir / "settings-base-choice.png", full_page=True)

    page.get_by_role("button", name="Save and review").click()
    expect(page.locator("main")).to_contain_text("On LTX-2.5: the adapter will work with LTX-2.5 only")
    draft.refresh_from_db()
    assert draft.settings["base"] == "ltx-2.5"
