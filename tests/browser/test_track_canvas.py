"""A creator draws motion tracks on the Studio's canvas, renders them, generates with them, and gets them back; or
starts from a clip's own motion, over its first frame."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import Page, expect
from safetensors.torch import save

from datasets.models import ClipPair
from studio.models import Adapter
from tests.factories import make_dataset
from tests.helpers import random_adapter_tensors, sign_in
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _motion_adapter(owner) -> Adapter:
    metadata = {"reference_downscale_factor": "1", "trigger": "TRACKS", "rank": "4", "base_model": "tiny",
                "bucket": "128x96x9@24"}
    adapter = Adapter(owner=owner, name="Motion v1", source=Adapter.Source.UPLOADED, trigger_phrase="TRACKS", rank=4,
                      metadata=metadata, recipe="tracks")
    adapter.file.save("motion.safetensors", ContentFile(save(random_adapter_tensors(seed=1), metadata=metadata)),
                      save=False)
    adapter.save()
    return adapter


def _click(page: Page, x: float, y: float) -> None:
    """Click the canvas at (x, y), fractions of its width and height."""
    box = page.locator("#tracks-stage").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x * box["width"], box["y"] + y * box["height"])


def _drawn(page: Page) -> dict:
    return json.loads(page.locator("#drawn_tracks").input_value())


def test_a_creator_draws_two_tracks_moves_a_point_by_keyboard_renders_them_and_generates_with_them(
    page: Page, live_asgi_url: str, celery_worker, creator, screenshots_dir: Path
):
    adapter = _motion_adapter(creator)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/studio/?adapter={adapter.pk}")
    page.get_by_label("Describe the video you want").fill("TRACKS two red balloons drifting over a park")
    page.get_by_label("Steps", exact=True).fill("4")
    page.get_by_label("Seed", exact=True).fill("11")
    page.get_by_role("link", name="Draw the motion tracks").click()
    card = page.locator("#tracks-card")
    expect(page.locator("#tracks-stage")).to_be_visible()

    # Two tracks with the mouse: two points each, timed over the clip's 9 frames as the track editor times them.
    _click(page, 0.1, 0.2)
    _click(page, 0.8, 0.6)
    page.get_by_role("button", name="New track").click()
    _click(page, 0.85, 0.85)
    _click(page, 0.5, 0.5)
    _click(page, 0.2, 0.7)
    tracks = page.get_by_role("list", name="Your tracks")
    expect(tracks.get_by_role("listitem")).to_have_text([
        "Track 1: 2 points (frames 0, 8)", "Track 2: 3 points (frames 0, 4, 8) · adding here"])

    # One point moved with the keyboard: Tab reaches it, Shift+arrow moves it 10 pixels, Delete removes one.
    point = page.get_by_role("button", name=re.compile(r"^Track 1, point 2: "))
    before = _drawn(page)["tracks"][0][1]
    page.get_by_role("button", name=re.compile(r"^Track 1, point 1: ")).focus()
    page.keyboard.press("Tab")
    expect(point).to_be_focused()
    page.keyboard.press("Shift+ArrowLeft")
    page.keyboard.press("ArrowUp")
    moved = _drawn(page)["tracks"][0][1]
    assert (moved["x"], moved["y"], moved["frame"]) == pytest.approx(
        (before["x"] - 10, before["y"] - 1, before["frame"]))
    expect(page.locator("#tracks-selected")).to_contain_text(f"Track 1, point 2: x {round(moved['x'])}")
    page.get_by_role("button", name=re.compile(r"^Track 2, point 2: ")).focus()
    page.keyboard.press("Delete")
    expect(tracks.get_by_role("listitem").nth(1)).to_have_text("Track 2: 2 points (frames 0, 8) · adding here")

    drawn = _drawn(page)
    assert (drawn["width"], drawn["height"], drawn["frames"]) == (128, 96, 9) and len(drawn["tracks"]) == 2
    page.locator("#tracks-time").fill("6")  # the trails on frame 6
    expect(page.locator("#tracks-time-out")).to_have_text("6")
    card.screenshot(path=screenshots_dir / "track-canvas-drawn.png")

    page.get_by_role("button", name="Render the reference").click()
    rendered = page.get_by_label("The rendered motion-track reference")
    expect(rendered).to_be_visible(timeout=30_000)
    expect(page.locator("#tracks-rendered figcaption")).to_contain_text("2 tracks · 128×96, 9 frames at 24 fps")
    page.wait_for_function("() => { const v = document.querySelector('#tracks-rendered video');"
                           " return v && v.readyState >= 2 && v.videoWidth === 128; }", timeout=30_000)
    card.screenshot(path=screenshots_dir / "track-canvas-rendered.png")

    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-state")).to_have_text("Done", timeout=120_000)
    expect(page.locator("main")).to_contain_text("the 2 motion tracks you drew")
    page.wait_for_function("() => { const v = document.querySelector('#compare video[src$=\"/reference.mp4\"]');"
                           " return v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    page.screenshot(path=screenshots_dir / "track-canvas-result.png", full_page=True)

    # Reuse these settings: the same tracks are back on the canvas, ready to change.
    page.get_by_role("link", name="Reuse these settings").click()
    expect(card).to_have_attribute("open", "")
    expect(tracks.get_by_role("listitem")).to_have_text([
        "Track 1: 2 points (frames 0, 8)", "Track 2: 2 points (frames 0, 8)", "Track 3: 0 points · adding here"])
    assert _drawn(page) == drawn
    card.screenshot(path=screenshots_dir / "track-canvas-reused.png")
    page.set_viewport_size({"width": 390, "height": 844})
    card.screenshot(path=screenshots_dir / "track-canvas-phone.png")
    page.set_viewport_size({"width": 1280, "height": 720})

    # A track with one point: a plain message, on render and on generate.
    page.get_by_role("button", name="Delete all tracks").click()
    _click(page, 0.3, 0.3)
    page.get_by_role("button", name="Render the reference").click()
    message = "Track 1 has only one point"
    expect(page.locator("#tracks-rendered [role=alert]")).to_contain_text(message)
    card.screenshot(path=screenshots_dir / "track-canvas-one-point.png")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("alert").first).to_contain_text(message)
    expect(page.locator("#tracks-error")).to_contain_text(message)

    # Mended with the keyboard alone: Add point puts a second point beside the first, focused for the arrow keys.
    expect(tracks.get_by_role("listitem")).to_have_text(["Track 1: 1 point (frame 0) · adding here"])
    page.get_by_role("button", name="Add point").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name=re.compile(r"^Track 1, point 2: "))).to_be_focused()
    page.keyboard.press("Shift+ArrowDown")
    expect(tracks.get_by_role("listitem")).to_have_text(["Track 1: 2 points (frames 0, 8) · adding here"])
    page.get_by_role("button", name="Render the reference").click()
    expect(page.locator("#tracks-rendered figcaption")).to_contain_text("1 track · 128×96, 9 frames at 24 fps")


CANVAS_BRIGHTNESS = """() => {
  const canvas = document.getElementById("tracks-canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
  return sum / (3 * data.length / 4);
}"""


def test_a_creator_draws_over_a_clip_s_first_frame_and_starts_from_the_clip_s_own_motion(
    page: Page, live_asgi_url: str, celery_worker, creator, screenshots_dir: Path, tmp_path: Path
):
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=24)
    adapter = _motion_adapter(creator)
    sign_in(page, live_asgi_url, creator.username)
    page.goto(f"{live_asgi_url}/studio/?adapter={adapter.pk}")
    page.get_by_text("Draw motion tracks").click()  # the section opens from its heading too
    blank = page.evaluate(CANVAS_BRIGHTNESS)
    page.get_by_label("Draw over a picture or clip").set_input_files(clip)
    page.wait_for_function(f"({CANVAS_BRIGHTNESS})() > {blank} + 20", timeout=15_000)

    page.get_by_label("…or start from a clip's own motion").set_input_files(clip)
    page.get_by_role("button", name="Follow its motion").click()
    expect(page.locator("#tracks-from-clip")).to_contain_text("from cars.mp4 are on the canvas", timeout=60_000)
    drawn = _drawn(page)
    assert (drawn["width"], drawn["height"], drawn["frames"]) == (128, 96, 9) and len(drawn["tracks"]) >= 2
    assert all(len(track) >= 2 for track in drawn["tracks"])
    items = page.get_by_role("list", name="Your tracks").get_by_role("listitem")
    expect(items.last).to_have_text(re.compile(r"^Track \d+: 0 points · adding here$"))
    page.locator("#tracks-time").fill("8")
    page.locator("#tracks-card").screenshot(path=screenshots_dir / "track-canvas-from-clip.png")

    page.get_by_role("button", name="Render the reference").click()
    expect(page.locator("#tracks-rendered figcaption")).to_contain_text(
        f"{len(drawn['tracks'])} tracks · 128×96, 9 frames at 24 fps", timeout=30_000)


def test_a_creator_makes_a_dataset_clip_s_motion_tracks_the_reference_and_follows_its_motion_on_the_canvas(
    page: Page, live_asgi_url: str, celery_worker, creator, screenshots_dir: Path, tmp_path: Path
):
    adapter = _motion_adapter(creator)
    dataset = make_dataset(creator, name="Street", recipe="tracks")
    pair = ClipPair(dataset=dataset, name="cars", position=0)
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=24)
    pair.target_file.save("cars.mp4", ContentFile(clip.read_bytes()), save=True)
    sign_in(page, live_asgi_url, creator.username)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_asgi_url}/studio/?adapter={adapter.pk}")

    # The control video: the clip's motion tracks, made with the wizard's defaults, for the adapter chosen before.
    page.get_by_role("link", name="Make its control video").click()
    page.get_by_label("Motion tracks").check()
    page.get_by_label("…or one of your dataset clips").select_option(label="Street · cars")
    page.screenshot(path=screenshots_dir / "control-tracks-form.png", full_page=True)
    page.get_by_role("button", name="Make it").click()
    expect(page.get_by_role("heading", name="Motion tracks of cars.mp4")).to_be_visible()
    use = page.get_by_role("link", name="Use it as the reference in the Studio")
    expect(use).to_be_visible(timeout=60_000)
    # The clip and its tracks both play, side by side.
    page.wait_for_function("""() => {
      const videos = [...document.querySelectorAll("#control-progress video")];
      return videos.length === 2 && videos.every(v => v.readyState >= 2 && v.videoWidth === 256);
    }""", timeout=30_000)
    page.screenshot(path=screenshots_dir / "control-tracks.png", full_page=True)
    use.click()
    expect(page.locator("#adapter_choice option:checked")).to_contain_text("Motion v1")
    expect(page.get_by_label("…or a control video you made").locator("option:checked")).to_have_text(
        "Motion tracks of cars.mp4")
    page.locator("#s-reference").locator("xpath=..").screenshot(path=screenshots_dir / "studio-tracks-reference.png")

    # The same clip's motion on the canvas, picked from the datasets: its tracks are the ones made above.
    page.get_by_label("…or a control video you made").select_option(label="None")
    page.get_by_text("Draw motion tracks").click()
    page.get_by_label("…or one of your dataset clips").select_option(label="Street · cars")
    page.get_by_role("button", name="Follow its motion").click()
    expect(page.locator("#tracks-from-clip")).to_contain_text("from cars.mp4 are on the canvas", timeout=60_000)
    assert len(_drawn(page)["tracks"]) >= 2
    page.locator("#tracks-time").fill("8")
    page.locator("#tracks-card").screenshot(path=screenshots_dir / "track-canvas-from-dataset-clip.png")
