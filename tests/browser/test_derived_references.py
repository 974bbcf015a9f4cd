"""A creator trains edge control from ordinary clips: the server makes the edge maps, the page previews them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.clips import make_clip
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"derive-{name}.png", full_page=True)


def test_edge_maps_are_made_from_uploaded_clips_previewed_live_and_made_again_with_new_settings(
    page: Page, live_asgi_url: str, celery_worker, screenshots_dir: Path, creator, tmp_path: Path
):
    clips = [make_clip(tmp_path / f"{name}.mp4", source=source, frames=33, width=192, height=128)
             for name, source in (("harbour", "testsrc2"), ("market", "mandelbrot"))]
    sign_in(page, live_asgi_url, creator.username)
    page.get_by_role("link", name="New training").click()
    page.get_by_role("button", name="Use Canny edges control").click()
    expect(page.get_by_role("heading", name="Edge maps, made for you")).to_be_visible()

    page.locator("#id_files").set_input_files(clips)
    expect(page.locator(".upload-list .good")).to_have_count(2, timeout=30_000)
    expect(page.locator("article.pair")).to_have_count(2, timeout=30_000)
    expect(page.locator(".orphans")).to_have_count(0)  # lone clips are pairs now, not orphans

    # The worker makes both edge maps; the pairs list refreshes itself until they are checked.
    harbour = page.get_by_role("article", name="harbour", exact=True)
    made = harbour.locator("figure.derived video")
    expect(made).to_have_attribute("src", re.compile(r"^/prep/extractions/\d+/video/$"), timeout=60_000)
    expect(page.locator("#pairs .summary")).to_contain_text("2 ready", timeout=60_000)
    made.evaluate("video => video.play()")
    page.wait_for_function("document.querySelector('figure.derived video').currentTime > 0.2", timeout=15_000)
    made.evaluate("video => { video.pause(); video.currentTime = 0; }")

    # The live preview follows the thresholds as they are typed.
    preview = page.locator("#preview-canny img")
    expect(preview).to_have_attribute("src", re.compile(r"^data:image/png;base64,"), timeout=30_000)
    before = preview.get_attribute("src")
    page.get_by_label("Low threshold").fill("20")
    page.get_by_label("High threshold").fill("60")
    expect(preview).not_to_have_attribute("src", before or "", timeout=15_000)
    shot(page, screenshots_dir, "1-preview")
    page.get_by_label("Low threshold").fill("90")
    page.get_by_label("High threshold").fill("40")
    expect(page.locator("#preview-canny")).to_contain_text("The low edge threshold must be below the high one.")
    page.get_by_label("High threshold").fill("140")

    # Saving makes every edge map again; the page waits and ends with both pairs ready.
    old_src = made.get_attribute("src")
    page.get_by_role("button", name="Save and make them again").click()
    expect(page.get_by_text("Every edge map is being made again")).to_be_visible()
    expect(harbour.locator("figure.derived video")).not_to_have_attribute("src", old_src or "", timeout=60_000)
    expect(page.locator("#pairs .summary")).to_contain_text("2 ready", timeout=60_000)
    shot(page, screenshots_dir, "2-remade")
