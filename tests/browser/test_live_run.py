"""A creator watches a run live in Chromium, from launch to the finished adapter."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import make_ready_dataset, make_run, tiny_run_config
from tests.helpers import sign_in
from tests.services import call_in_thread
from training.runs import launch_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]

# The browser's notification service stands in for the desktop (a headless browser has none to show): it grants
# permission when asked and records what the page shows.
FAKE_NOTIFICATIONS = """
window.shownNotifications = [];
class RecordedNotification {
  constructor(title, options) { window.shownNotifications.push({ title, body: options.body }); }
  close() {}
}
RecordedNotification.permission = "default";
RecordedNotification.requestPermission = async () => (RecordedNotification.permission = "granted");
window.Notification = RecordedNotification;
"""


def test_a_creator_watches_a_run_from_launch_to_the_finished_adapter(
    page: Page, live_asgi_url: str, celery_worker, creator, tmp_path, screenshots_dir
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=3)
    validation = {"every": 30, "prompts": ["a restored street"],
                  "reference_videos": [dataset.pairs.order_by("pk")[0].reference_file.name]}
    run = make_run(creator, dataset=dataset, name="Restore demo",
                   config=tiny_run_config(steps=60, checkpoint_every=30, validation=validation))
    page.add_init_script(FAKE_NOTIFICATIONS)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    expect(page.locator("#run-state")).to_have_text("Draft")
    expect(page.locator("#run")).to_have_attribute("data-live", "socket")
    page.get_by_role("button", name="Tell me when it is done").click()
    expect(page.locator("[data-notify-note]")).to_have_text(
        "Your browser will tell you when this training ends, even from another tab.")

    call_in_thread(launch_run, run)
    expect(page.locator("#run-state")).to_have_text("Training", timeout=90_000)
    expect(page.locator("#run-log")).to_contain_text("Waiting for a GPU worker.")
    expect(page.locator("#run-speed")).to_contain_text("steps/s", timeout=60_000)
    expect(page.locator("#loss-chart canvas")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\d+% · Restore demo · ICLoRA Studio$"))  # progress in the tab
    page.screenshot(path=screenshots_dir / "run-training.png", full_page=True)

    expect(page.locator("#run-state")).to_have_text("Finished", timeout=180_000)
    expect(page.locator("#run-step")).to_have_text("60")
    page.wait_for_function("() => window.shownNotifications.length > 0")
    assert page.evaluate("window.shownNotifications") == [
        {"title": "Restore demo is ready", "body": "Your adapter “Restore demo” is ready."}]
    expect(page.locator("[data-notify]")).to_be_hidden()
    expect(page).to_have_title("Ready · Restore demo · ICLoRA Studio")
    expect(page.get_by_role("link", name="Download Restore demo.safetensors")).to_be_visible()
    expect(page.locator("#run-checkpoints")).to_contain_text("Step 60")
    expect(page.get_by_role("button", name="Continue training").first).to_be_visible()
    expect(page.get_by_role("button", name="Stop training")).to_have_count(0)
    # The samples: one row for the validation clip, its reference first, then steps 60 and 30 side by side
    grid = page.locator(".sample-grid")
    expect(grid.locator("thead th")).to_have_text(["Reference", "Step 60 Try in Studio", "Step 30 Try in Studio"])
    expect(grid.locator("tbody tr")).to_have_count(1)
    expect(grid.locator("tbody th")).to_contain_text("“a restored street”")
    page.wait_for_function("() => [...document.querySelectorAll('.sample-grid tbody video')]"
                           ".every(v => v.readyState >= 2 && v.videoWidth > 0)")
    grid.get_by_role("button", name="Play row").click()
    page.wait_for_function("() => [...document.querySelectorAll('.sample-grid tbody video')].every(v => !v.paused)")
    page.screenshot(path=screenshots_dir / "run-finished.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("link", name="Download Restore demo.safetensors").click()
    assert download.value.suggested_filename == "Restore_demo.safetensors"  # one word, as ComfyUI lists it


def test_another_creator_gets_a_not_found_page_for_the_run(page: Page, live_asgi_url: str, creator, other_creator):
    run = make_run(creator)
    sign_in(page, live_asgi_url, other_creator.username)
    response = page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    assert response is not None and response.status == 404
