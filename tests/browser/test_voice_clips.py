"""Identity with reference voices in Chromium: clips, stills and voice clips uploaded through the real page, each
pair shown with a player for its voice and what the checks found about it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.clips import make_clip, make_image
from tests.datasets.voices import tone
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def voiced_identity(tmp_path: Path) -> list[Path]:
    """Two 2 s clips with their own sound, a still of each, a good 6 s voice for one and a 2 s voice for the other."""
    folder = tmp_path / "identity"
    return [
        make_clip(folder / "talk.mp4", audio=True), make_image(folder / "talk_ref.png"),
        tone(folder / "talk_voice.wav", 6, rate=22050),
        make_clip(folder / "walk.mp4", audio=True, source="mandelbrot"),
        make_image(folder / "walk_ref.png", source="mandelbrot"), tone(folder / "walk_voice.wav", 2),
    ]


def test_voice_clips_upload_play_and_show_their_findings(
    page: Page, live_asgi_url: str, creator, voiced_identity: list[Path], screenshots_dir: Path
):
    sign_in(page, live_asgi_url, creator.username)
    page.get_by_role("link", name="New training").click()
    page.get_by_role("button", name="Use Identity").click()
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()
    expect(page.locator(".voice-lead")).to_contain_text("clip_voice.wav")
    assert "audio/*" in (page.locator("#id_files").get_attribute("accept") or "")

    page.locator("#id_files").set_input_files(voiced_identity)
    expect(page.locator("details.upload-fold summary")).to_have_text("6 files uploaded", timeout=60_000)
    expect(page.locator("article.pair")).to_have_count(2, timeout=30_000)
    expect(page.locator("details.pair-fold summary")).to_contain_text("1 need", timeout=30_000)

    talk, walk = page.locator("#pairs article.pair").nth(0), page.locator("#pairs article.pair").nth(1)
    expect(talk.get_by_label("Voice clip of talk")).to_be_visible()
    expect(walk.get_by_label("Voice clip of walk")).to_be_visible()
    expect(talk.locator("figure.voice figcaption")).to_contain_text("6.0 s · 22.05 kHz")
    expect(talk.locator(".badge")).to_have_text("Ready, with notes")  # only its caption is missing
    expect(walk.locator(".badge")).to_have_text("Needs attention")
    expect(walk.locator('[data-code="voice_too_short"]')).to_contain_text("2.0 s is too short")
    expect(talk.locator('[data-code="voice_resampled"]')).to_contain_text("22.05 kHz")

    # The player really plays the stored voice: Chromium reads its length from the served file.
    seconds = talk.locator("audio").evaluate(
        """audio => new Promise((done, fail) => {
             audio.addEventListener("loadedmetadata", () => done(audio.duration), {once: true});
             audio.addEventListener("error", () => fail(new Error("the voice did not load")), {once: true});
             audio.preload = "metadata"; audio.load();
           })""")
    assert 5.9 < seconds < 6.1

    page.locator("#pairs").screenshot(path=screenshots_dir / "voice-clips-pairs.png")
    page.screenshot(path=screenshots_dir / "voice-clips.png", full_page=True)

    # What makes a good voice clip: one link away, on the recipe's page.
    page.get_by_role("link", name="What makes a good voice clip").click()
    advice = page.locator("#voice")
    expect(advice).to_contain_text("5 to 15 seconds of the same person speaking alone")
    advice.screenshot(path=screenshots_dir / "voice-clips-advice.png")
