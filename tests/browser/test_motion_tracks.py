"""A creator trains motion-track control from an ordinary clip: the tracks are made, shown over it, previewed live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.helpers import sign_in
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

UNDER = "document.querySelector('[data-tracks-over-clip] video.under')"


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"tracks-{name}.png", full_page=True)


def test_motion_tracks_are_made_from_a_clip_played_over_it_and_previewed_live_as_a_setting_changes(
    page: Page, live_asgi_url: str, celery_worker, screenshots_dir: Path, creator, tmp_path: Path
):
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=48)
    sign_in(page, live_asgi_url, creator.username)
    page.get_by_role("link", name="New training").click()
    page.get_by_role("link", name="More about Motion tracks control").click()
    expect(page.get_by_text("A track is one point on something in the clip")).to_be_visible()
    shot(page, screenshots_dir, "0-recipe")
    page.go_back()
    page.get_by_role("button", name="Use Motion tracks control").click()
    expect(page.get_by_role("heading", name="Motion-track videos, made for you")).to_be_visible()

    page.locator("#id_files").set_input_files([clip])
    expect(page.locator("article.pair")).to_have_count(1, timeout=30_000)

    # The worker makes the track video; the pair shows it over its clip, and playing it plays the clip in step.
    pair = page.get_by_role("article", name="cars", exact=True)
    tracks = pair.get_by_label("Motion tracks of cars, drawn over the clip")
    expect(tracks).to_have_attribute("src", re.compile(r"^/prep/extractions/\d+/video/$"), timeout=60_000)
    expect(page.locator("#pairs .summary")).to_contain_text("1 ready", timeout=60_000)
    tracks.evaluate("video => video.play()")
    page.wait_for_function(f"{UNDER}.currentTime > 0.2", timeout=15_000)
    tracks.evaluate("video => { video.pause(); video.currentTime = 1.2; }")
    page.wait_for_function(f"{UNDER}.paused && Math.abs({UNDER}.currentTime - 1.2) < 0.05", timeout=15_000)
    pair.screenshot(path=screenshots_dir / "tracks-1-pair.png")

    # The live preview: a frame of the clip with its tracks, redrawn when a setting changes.
    preview = page.locator("#preview-tracks img")
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/png;base64,"), timeout=30_000)
    before = preview.get_attribute("src")
    page.get_by_label("Trail length (frames)").fill("12")
    expect(preview).not_to_have_attribute("src", before or "", timeout=15_000)
    page.get_by_label("Circle size").fill("60")
    expect(page.locator("#preview-tracks")).to_contain_text("The circle size must be between 1 and 32 (it is 60).")
    page.get_by_label("Circle size").fill("14")
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/png;base64,"), timeout=15_000)
    page.locator("#derive").screenshot(path=screenshots_dir / "tracks-2-settings.png")
    shot(page, screenshots_dir, "3-clips-step")

    # Saving makes the track video again with the new settings.
    old_src = tracks.get_attribute("src")
    page.get_by_role("button", name="Save and make them again").click()
    expect(page.get_by_text("Every motion-track video is being made again")).to_be_visible()
    expect(pair.get_by_label("Motion tracks of cars, drawn over the clip")).not_to_have_attribute(
        "src", old_src or "", timeout=60_000)
    expect(page.locator("#pairs .summary")).to_contain_text("1 ready", timeout=60_000)
