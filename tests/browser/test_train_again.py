"""A creator trains a finished LTX-2.3 run again on LTX-2.5 in Chromium: from the run page to the summary of what
changes, one click to launch, and the new run finishing on the tiny LTX-2.5 model through the real worker."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from studio.models import Adapter
from tests.browser.test_base_choice import two_base_url  # noqa: F401  (a server offering both tiny bases)
from tests.factories import make_ready_dataset, make_run, tiny_run_config
from tests.helpers import sign_in, wait_for
from training.models import TrainingRun
from training.runs import launch_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(420)]


def _ended(run: TrainingRun) -> bool:
    run.refresh_from_db()
    return run.state in TrainingRun.FINAL_STATES


def test_a_creator_trains_a_finished_ltx_2_3_run_again_on_ltx_2_5_from_its_page(
    page: Page, two_base_url: str, celery_worker, creator, tmp_path: Path, screenshots_dir: Path  # noqa: F811
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2, name="Street clips")
    source = make_run(creator, dataset=dataset, name="Street restore",
                      config=tiny_run_config(steps=4, checkpoint_every=4))
    launch_run(source)
    wait_for(lambda: _ended(source), timeout=200)
    assert source.state == TrainingRun.State.SUCCEEDED, (source.state_reason, celery_worker.log_tail())

    sign_in(page, two_base_url, creator.username)
    page.goto(f"{two_base_url}/runs/{source.pk}/")
    offer = page.locator("#train-again")
    expect(offer).to_contain_text("Trained on LTX-2.3: its adapters only work with LTX-2.3.")
    page.screenshot(path=screenshots_dir / "train-again-run-page.png", full_page=True)
    offer.get_by_role("link", name="Train again on LTX-2.5").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Train “Street restore” again on LTX-2.5")
    summary = page.locator("#train-again-summary")
    expect(summary).to_contain_text("LTX-2.3 → LTX-2.5")
    expect(summary).to_contain_text("2 pairs from “Street clips”, with their captions and references")
    changes = page.locator("#train-again-changes li")
    expect(changes).to_have_count(3)
    expect(changes.first).to_have_text("Clips stay 128×96, 9 frames: LTX-2.5 uses the same sizes.")
    expect(changes.last).to_contain_text("Captions will be read by LTX-2.5's own text encoder")
    assert TrainingRun.objects.count() == 1  # nothing launched by looking
    page.screenshot(path=screenshots_dir / "train-again-summary.png", full_page=True)

    page.get_by_role("button", name="Train on LTX-2.5").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Street restore (LTX-2.5)")
    expect(page.locator("#run-log")).to_contain_text("Trains “Street restore” again on LTX-2.5, with the same clips.")
    expect(page.locator("#run-state")).to_have_text("Finished", timeout=200_000)
    expect(page.locator("#train-again")).to_contain_text("Trained on LTX-2.5: its adapters only work with LTX-2.5.")
    expect(page.get_by_role("link", name="Download Street restore (LTX-2.5).safetensors")).to_be_visible()
    page.screenshot(path=screenshots_dir / "train-again-finished-on-ltx-2-5.png", full_page=True)

    again = TrainingRun.objects.exclude(pk=source.pk).get()
    assert (again.base, again.state, again.step) == ("ltx-2.5", TrainingRun.State.SUCCEEDED, 4)
    assert Adapter.objects.get(run=again).base == "ltx-2.5"

    # The dataset page lists the new run with its base, and offers the latest ended run's settings on the other base.
    page.goto(f"{two_base_url}/wizard/datasets/{dataset.pk}/")
    expect(page.get_by_role("link", name="Street restore (LTX-2.5) · LTX-2.5 Finished")).to_be_visible()
    offer = page.locator("#dataset-train-again")
    expect(offer).to_contain_text("Your latest training, “Street restore (LTX-2.5)”, was on LTX-2.5.")
    page.screenshot(path=screenshots_dir / "train-again-dataset-page.png", full_page=True)
    offer.get_by_role("link", name="Train on LTX-2.3").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Train “Street restore (LTX-2.5)” again on LTX-2.3")
    expect(page.locator(".crumbs").get_by_role("link", name="Street clips")).to_be_visible()
