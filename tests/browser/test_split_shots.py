"""A creator uploads a clip edited from two shots, is told where the shot changes, and splits the pair."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.clips import two_shot_pair
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_pair_with_a_cut_is_split_into_its_shots_from_the_clips_step(
    page: Page, live_asgi_url: str, celery_worker, creator, tmp_path: Path, screenshots_dir: Path
):
    files = list(two_shot_pair(tmp_path, "harbour"))
    sign_in(page, live_asgi_url, creator.username)
    page.get_by_role("link", name="New training").click()
    page.get_by_role("button", name="Use Restoration").click()
    page.locator("#id_files").set_input_files(files)
    expect(page.locator(".upload-list .good")).to_have_count(2, timeout=30_000)

    pair = page.get_by_role("article", name="harbour", exact=True)
    expect(pair).to_contain_text("The shot changes at 1 s.", timeout=30_000)
    page.screenshot(path=screenshots_dir / "split-1-cut-found.png", full_page=True)
    pair.get_by_role("button", name="Split into 2 shots").click()

    expect(page.locator("main")).to_contain_text("Cutting “harbour” into 2 shots.")
    for name in ("harbour_shot1", "harbour_shot2"):
        expect(page.get_by_role("article", name=name, exact=True)).to_contain_text("Ready", timeout=60_000)
    expect(page.get_by_role("article", name="harbour", exact=True)).to_have_count(0)
    page.screenshot(path=screenshots_dir / "split-2-shots.png", full_page=True)
