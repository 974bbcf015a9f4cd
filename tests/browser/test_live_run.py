"""A creator watches a run live in Chromium, from launch to the finished adapter."""

import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from playwright.sync_api import Page, expect

from engine.synthetic import make_clip
from engine.train import Progress
from jobs.lifecycle import Holder
from tests.factories import make_ready_dataset, make_run, tiny_run_config
from tests.helpers import sign_in
from tests.services import call_in_thread
from training.models import TrainingRun, ValidationSample
from training.reporting import RunReporter
from training.runner import claim
from training.runs import launch_run, transition

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]
State, Stage = TrainingRun.State, TrainingRun.Stage

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
    expect(page.locator("#run-log")).to_contain_text("Waiting for a free machine.")
    expect(page.locator("#run-speed")).to_contain_text("steps/s", timeout=60_000)
    expect(page.locator("#loss-chart canvas")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^\d+% · Restore demo · ICLoRA Studio$"))  # progress in the tab
    page.screenshot(path=screenshots_dir / "run-training.png", full_page=True)

    expect(page.locator("#run-state")).to_have_text("Finished", timeout=180_000)
    expect(page.locator('.stage[data-stage="training"] .stage-detail')).to_have_text("60 steps")
    expect(page.locator(".stage.done")).to_have_count(5)
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


def _progress(step: int, total: int = 100) -> Progress:
    return Progress(step, total, 0.8 / step, 1e-4, 0.5, (total - step) / 0.5, 120.0)


def test_a_creator_sees_each_stage_with_its_own_progress_live_and_after_a_reload(
    page: Page, live_asgi_url: str, creator, tmp_path, screenshots_dir
):
    """The worker's side is the reporter the runner uses, driven by hand: every stage arrives through the one
    progress path (a run event in the database, pushed to the page) exactly as the engine reports it."""
    run = make_run(creator, name="Depth walk", total_steps=100)
    call_in_thread(transition, run, State.QUEUED, "Waiting for a GPU worker.")
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    stages = page.locator("#run-stages .stage")
    waited = re.compile(r"Waiting for a machine\s+Waiting for (a few seconds|about \d+ s) so far\. "
                        r"Yours is next in line\.")
    expect(stages).to_have_text([waited, "Preparing your clips", "Training", "Making samples", "Saving the adapter"])
    expect(page.locator("#loss-empty")).to_have_text("The loss curve appears after the first steps.")
    expect(page.locator(".u-legend")).to_have_count(0)  # no "step: -- loss: --" before there is a loss
    expect(page.locator("#run")).to_have_attribute("data-live", "socket")

    claimed = call_in_thread(claim, run.pk, "gpu-1")
    reporter = RunReporter(Holder(claimed), flush_seconds=0)
    for clip in (1, 2, 3):
        call_in_thread(reporter.on_stage, Stage.PREPARING, clip, 9)
    current = page.locator('#run-stages [aria-current="step"]')
    expect(current).to_have_attribute("data-stage", "preparing")
    expect(page.locator("#stage-detail")).to_have_text("Preparing clip 3 of 9")
    expect(page.locator("#run-state")).to_have_text("Preparing the dataset")
    expect(page.locator('.stage[data-stage="waiting"]')).to_have_class("stage done")
    page.screenshot(path=screenshots_dir / "run-stage-preparing.png", full_page=True)
    page.reload()  # rebuilt from the database: the same words
    expect(page.locator("#stage-detail")).to_have_text("Preparing clip 3 of 9")
    call_in_thread(reporter.on_stage, Stage.PREPARING, 4, 9)  # the same stage: updated in place, bar included
    expect(page.locator("#stage-detail")).to_have_text("Preparing clip 4 of 9")
    expect(page.locator("#stage-bar")).to_have_attribute("style", re.compile(r"^width: 33%;?$"))

    call_in_thread(reporter.on_stage, Stage.LOADING, 0, 0)
    expect(page.locator("#run-state")).to_have_text("Training")
    expect(page.locator("#stage-detail")).to_have_text("Getting the model ready to train")
    for step in (1, 2, 3, 40):
        call_in_thread(reporter.on_progress, _progress(step))
    expect(page.locator("#stage-detail")).to_have_text("Step 40 of 100 · about 2 min left")
    expect(page.locator("#loss-chart canvas")).to_be_visible()
    expect(page.locator("#loss-empty")).to_be_hidden()
    expect(page.locator(".u-legend")).to_contain_text("step40loss0.02")  # the latest point, not "--"
    expect(page.locator('.stage[data-stage="preparing"]')).to_have_class("stage done")
    expect(page.locator("#stage-bar")).to_have_attribute("style", re.compile(r"^width: 40%;?$"))
    page.wait_for_timeout(400)  # the bar's width eases in
    page.screenshot(path=screenshots_dir / "run-stage-training.png", full_page=True)
    page.reload()
    expect(page.locator("#stage-detail")).to_have_text("Step 40 of 100 · about 2 min left")  # the same time, said alike

    call_in_thread(reporter.on_stage, Stage.SAMPLING, 0, 2)
    call_in_thread(reporter.on_stage, Stage.SAMPLING, 2, 2)
    expect(page.locator("#stage-detail")).to_have_text("Making sample 2 of 2")
    page.wait_for_timeout(400)  # the bars' widths ease in
    expect(page.locator('.stage[data-stage="training"]')).to_have_class("stage paused")
    expect(page.locator('.stage[data-stage="training"] .stage-detail')).to_have_text(
        "Step 40 of 100 · goes on once the samples are made")
    page.screenshot(path=screenshots_dir / "run-stage-sampling.png", full_page=True)
    call_in_thread(reporter.on_progress, _progress(41))
    expect(page.locator("#stage-detail")).to_have_text("Step 41 of 100 · about 2 min left")


def test_the_run_pages_videos_show_a_picture_before_they_play(
    page: Page, live_asgi_url: str, creator, tmp_path, screenshots_dir
):
    reference = default_storage.save("clips/street_ref.mp4", ContentFile(
        make_clip(tmp_path / "ref.mp4", seed=1, width=160, height=128, degrade=True).read_bytes()))
    run = make_run(creator, name="Street restore", state=State.SUCCEEDED, step=20, total_steps=20,
                   config={"validation": {"prompts": ["a sunny street"], "reference_videos": [reference]}})
    for step, seed in ((10, 2), (20, 3)):
        sample = ValidationSample(run=run, step=step, prompt="a sunny street")
        sample.video_file.save("s.mp4", ContentFile(make_clip(tmp_path / f"s{step}.mp4", seed=seed, width=160,
                                                              height=128).read_bytes()), save=True)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    videos = page.locator(".sample-grid video")
    expect(videos).to_have_count(3)
    # Every poster is a picture the browser can show (none of the videos has been played).
    page.wait_for_function("""async () => {
      const loaded = await Promise.all([...document.querySelectorAll('.sample-grid video')].map(v => new Promise(ok => {
        const image = new Image(); image.onload = () => ok(image.naturalWidth > 0); image.onerror = () => ok(false);
        image.src = v.poster; })));
      return loaded.length === 3 && loaded.every(Boolean);
    }""")
    assert page.evaluate("[...document.querySelectorAll('.sample-grid video')].every(v => v.paused)")
    page.locator(".sample-grid").screenshot(path=screenshots_dir / "run-posters.png")


def test_another_creator_gets_a_not_found_page_for_the_run(page: Page, live_asgi_url: str, creator, other_creator):
    run = make_run(creator)
    sign_in(page, live_asgi_url, other_creator.username)
    response = page.goto(f"{live_asgi_url}/runs/{run.pk}/")
    assert response is not None and response.status == 404
