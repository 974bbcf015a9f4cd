"""A new creator walks the whole wizard in Chromium, from sign-up to Launch, with real uploads."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.clips import make_clip
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def upload_folder(tmp_path: Path) -> list[Path]:
    """Three restoration pairs with captions, one mismatched pair and one clip without its reference."""
    folder = tmp_path / "upload"
    files = []
    for i, source in enumerate(("testsrc2", "mandelbrot", "smptebars")):
        files.append(make_clip(folder / f"street{i}.mp4", source=source, frames=48))
        files.append(make_clip(folder / f"street{i}_ref.mp4", source=source, frames=48, gray=True))
    files.append(make_clip(folder / "broken.mp4", frames=48, source="rgbtestsrc"))
    files.append(make_clip(folder / "broken_ref.mp4", frames=48, fps=30, source="rgbtestsrc"))
    files.append(make_clip(folder / "lonely.mp4", source="life", frames=48))
    captions = {0: "a quiet street at dawn, soft light", 1: "a swirling fractal, vivid colours"}
    for i, text in captions.items():
        caption = folder / f"street{i}.txt"
        caption.write_text(text)
        files.append(caption)
    return files


def shot(page: Page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"wizard-{name}.png", full_page=True)


def test_a_new_creator_walks_the_wizard_from_sign_up_to_launch(
    page: Page, live_asgi_url: str, screenshots_dir: Path, upload_folder: list[Path]
):
    page.goto(live_asgi_url + "/accounts/signup/")
    page.get_by_label("Username").fill("nina")
    page.get_by_label("Email").fill("nina@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    shot(page, screenshots_dir, "0-dashboard")

    # Recipe
    page.get_by_role("link", name="New training").click()
    expect(page.get_by_role("heading", name="What should your adapter do?")).to_be_visible()
    expect(page.locator(".recipe-card")).to_have_count(10)
    shot(page, screenshots_dir, "1-recipes")
    page.get_by_role("link", name="More about Restoration").click()
    expect(page.get_by_role("heading", name="What makes a good pair")).to_be_visible()
    page.go_back()
    page.get_by_role("button", name="Use Restoration").click()

    # Clips: real uploads through the page script, one request per file with progress
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()
    expect(page.get_by_text("No pairs yet.")).to_be_visible()
    page.locator("#id_files").set_input_files(upload_folder)
    expect(page.locator(".upload-list li")).to_have_count(len(upload_folder))
    expect(page.locator(".upload-list .good")).to_have_count(len(upload_folder), timeout=30_000)
    expect(page.locator("article.pair")).to_have_count(4, timeout=30_000)
    expect(page.locator("#pairs .summary")).to_contain_text("3 ready")
    expect(page.locator("#pairs .summary")).to_contain_text("1 needs attention")
    broken = page.get_by_role("article", name="broken", exact=True)
    expect(broken).to_contain_text("Different frame rates")
    expect(page.locator(".orphans")).to_contain_text("lonely.mp4")
    first_video = page.locator("article.pair video").first
    expect(first_video).to_have_attribute("src", re.compile(r"^/wizard/files/\d+/$"))
    expect(first_video).to_have_attribute("poster", re.compile(r"^/wizard/files/\d+/poster/$"))
    # The preview really plays in Chromium (byte ranges from the ownership-checked file view).
    first_video.evaluate("video => video.play()")
    page.wait_for_function("document.querySelector('article.pair video').currentTime > 0.2", timeout=15_000)
    first_video.evaluate("video => { video.pause(); video.currentTime = 0; }")
    shot(page, screenshots_dir, "2-clips-uploaded")

    # A caption typed in the page, saved through htmx
    street2 = page.get_by_role("article", name="street2", exact=True)
    expect(street2).to_contain_text("No caption yet")
    street2.get_by_label("Caption").fill("colour bars on a test card, steady camera")
    street2.get_by_role("button", name="Save caption").click()
    expect(street2.get_by_role("status")).to_have_text("Saved")
    expect(street2).not_to_contain_text("No caption yet")

    # Every caption changed at once, then the change undone
    page.locator("summary", has_text="Change every caption at once").click()
    page.get_by_label("Add these words").fill("steady camera")
    page.get_by_role("button", name="At the end").click()
    expect(page.get_by_role("article", name="street0", exact=True).get_by_label("Caption")).to_have_value(
        "a quiet street at dawn, soft light, steady camera")
    expect(page.locator("main")).to_contain_text("2 captions changed.")  # street2 already ends with them
    shot(page, screenshots_dir, "2b-captions-changed")
    page.get_by_role("button", name="Undo the last change").click()
    expect(page.get_by_role("article", name="street0", exact=True).get_by_label("Caption")).to_have_value(
        "a quiet street at dawn, soft light")
    broken = page.get_by_role("article", name="broken", exact=True)

    # The broken pair blocks launch until it is removed
    broken.get_by_role("button", name="Remove this pair").click()
    expect(page.locator("article.pair")).to_have_count(3)
    shot(page, screenshots_dir, "3-clips-ready")

    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()
    shot(page, screenshots_dir, "3b-clips-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # Settings: presets, advanced fields with help, a live estimate, a refused impossible value
    page.get_by_role("link", name="Continue to settings").click()
    expect(page.get_by_role("heading", name="Training settings")).to_be_visible()
    page.get_by_text("Quick test", exact=True).click()
    expect(page.get_by_label("Quick test")).to_be_checked()
    frames = page.get_by_label("Frames per clip")
    expect(frames).to_have_value("17")  # the preset's values arrived (htmx swapped the form)
    page.locator("summary", has_text="Advanced").click()
    frames.fill("20")
    frames.press("Tab")
    expect(page.locator("#estimate")).to_contain_text("20 frames does not work")
    frames.fill("17")
    frames.press("Tab")
    expect(page.locator("#estimate")).to_contain_text("Until the adapter is ready")
    expect(page.locator("#estimate")).to_contain_text("An estimate")
    shot(page, screenshots_dir, "4-settings")
    page.get_by_role("button", name="Save and review").click()

    # Launch: a summary a creator can read, then the run page
    expect(page.get_by_role("heading", name="Ready to train?")).to_be_visible()
    expect(page.locator("main")).to_contain_text("3 pairs ready")
    expect(page.locator("main")).to_contain_text("Quick test preset")
    shot(page, screenshots_dir, "5-launch")
    page.go_back()  # back and forward keep the saved settings
    expect(page.get_by_label("Quick test")).to_be_checked()
    page.go_forward()
    page.get_by_role("button", name="Launch training").click()
    expect(page).to_have_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("h1")).to_contain_text("Restoration")
    shot(page, screenshots_dir, "6-run")

    page.goto(live_asgi_url + "/dashboard/")
    expect(page.locator("#datasets-h + a.row")).to_contain_text("3 pairs")

    # The dataset page: the clips can be taken away as one ZIP, streamed by the ASGI server
    page.locator("#datasets-h + a.row").click()
    expect(page.get_by_role("heading", name="Take your clips with you")).to_be_visible()
    expect(page.locator("main")).to_contain_text("the 3 pairs ready to train")
    shot(page, screenshots_dir, "7-dataset")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as ZIP").click()
    saved = upload_folder[0].parent.parent / "download.zip"
    download_info.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        names = archive.namelist()
    assert sum(name.endswith(".mp4") for name in names) == 6 and any(n.endswith("/dataset.jsonl") for n in names)


def test_save_waits_until_the_chosen_presets_values_have_arrived(page: Page, live_asgi_url: str, creator, tmp_path):
    """On a slow connection the form must not be saved with the old preset's values under the new preset's name."""
    from tests.factories import make_ready_dataset
    from tests.helpers import sign_in
    from wizard.models import TrainingDraft

    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    draft = TrainingDraft.objects.create(owner=creator, dataset=dataset, name="Slow link", step="config")
    sign_in(page, live_asgi_url, creator.username)
    held = []

    def hold_the_preset_request(route: Any) -> None:
        if "action=preset" in (route.request.post_data or ""):
            held.append(route)  # answered below, once the page has been looked at mid-request
        else:
            route.continue_()

    page.route(re.compile(r"/wizard/\d+/settings/$"), hold_the_preset_request)
    page.goto(f"{live_asgi_url}/wizard/{draft.pk}/settings/")
    save = page.get_by_role("button", name="Save and review")
    page.get_by_text("Quick test", exact=True).click()
    expect(save).to_be_disabled()
    assert len(held) == 1
    held[0].continue_()
    expect(page.get_by_label("Frames per clip")).to_have_value("17")
    expect(page.get_by_role("button", name="Save and review")).to_be_enabled()
