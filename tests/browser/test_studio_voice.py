"""A creator gives an identity adapter trained with a voice a still of the person and their voice, recorded in the
page, and plays the result with its sound beside the same seed without the adapter, in Chromium.

Chromium's fake microphone plays a sound file of ours (`--use-file-for-fake-audio-capture`), so the Record button
runs the real MediaRecorder path; the fake permission prompt says yes, and videos may play with sound unclicked."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserType, Page, expect

from tests.conftest import CHROMIUM
from tests.helpers import sign_in
from tests.studio.test_generation import random_adapter
from tests.studio.test_voice import voice_adapter
from tests.training.test_audio import tone

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.timeout(300)]


def _speaking_microphone(browser_type: BrowserType, launch_args: dict[str, Any], microphone: Path) -> Browser:
    args = [*launch_args.get("args", []), "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={microphone}", "--autoplay-policy=no-user-gesture-required"]
    return browser_type.launch(**{**launch_args, "executable_path": CHROMIUM, "args": args})


def test_a_creator_records_the_persons_voice_and_hears_the_result_beside_the_same_seed_without_the_adapter(
    browser_type: BrowserType, browser_type_launch_args, live_asgi_url: str, celery_worker, creator, tmp_path,
    screenshots_dir,
):
    adapter = voice_adapter(creator)
    random_adapter(creator, name="Depth v2", trigger="")
    still = tmp_path / "maya.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(still)], check=True)
    uploaded = tone(tmp_path / "maya-voice.mp3", 330, 8)
    microphone = tone(tmp_path / "microphone.wav", 440, 20)
    browser = _speaking_microphone(browser_type, browser_type_launch_args, microphone)
    page: Page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    try:
        sign_in(page, live_asgi_url, creator.username)
        page.goto(f"{live_asgi_url}/studio/?adapter={adapter.pk}")

        voice = page.get_by_label("Voice of the person")
        expect(voice).to_be_visible()
        expect(page.get_by_text("5–15 s of the person speaking alone")).to_be_visible()
        page.get_by_label("IC-LoRA to try").select_option(label="Depth v2 (uploaded · rank 4)")
        expect(voice).to_be_hidden()  # an adapter trained without a voice asks for none
        page.get_by_label("IC-LoRA to try").select_option(
            label="Maya speaks (uploaded · rank 4 · speaks: needs a voice)")
        expect(voice).to_be_visible()

        page.get_by_label("Upload a video").set_input_files(still)
        voice.set_input_files(uploaded)  # an upload: its length, and a player to listen to it
        expect(page.locator("#voice-status")).to_have_text("maya-voice.mp3: 8.0 s.")
        expect(page.get_by_label("Listen to the voice recording")).to_be_visible()

        page.get_by_role("button", name="Record").click()  # then recorded here instead: it replaces the upload
        expect(page.locator("#voice-status")).to_contain_text("Recording…")
        page.wait_for_timeout(6500)
        page.get_by_role("button", name="Stop").click()
        expect(page.locator("#voice-status")).to_contain_text("Recorded 6.")
        expect(page.locator("#voice-status")).to_contain_text("listen to it below")
        assert page.evaluate("document.getElementById('voice_upload').files[0].name") == "voice-recording.webm"
        page.wait_for_function("() => { const a = document.getElementById('voice-player'); "
                               "return a.readyState >= 1; }", timeout=10_000)

        page.get_by_label("Describe the video you want").fill("MAYA says hello in a sunny kitchen")
        page.get_by_label("Frames", exact=True).fill("17")
        page.get_by_label("Steps", exact=True).fill("2")
        page.get_by_label("Seed", exact=True).fill("11")
        compare = page.get_by_label("Also make the same video without the adapter (same seed), to compare")
        expect(compare).to_be_checked()
        page.screenshot(path=screenshots_dir / "studio-voice-form.png", full_page=True)
        page.get_by_role("button", name="Generate").click()

        expect(page.locator("#generation-state")).to_have_text("Done", timeout=180_000)
        expect(page.get_by_role("note").filter(has_text="Both videos play with sound")).to_contain_text(
            "speaks in the voice of your recording “voice-recording.webm”")
        expect(page.locator("main")).to_contain_text("voice-recording.webm (6.")
        labels = ("Result with the adapter, speaking in your voice", "Result without the adapter, without your voice")
        for label in labels:
            expect(page.get_by_label(label)).to_be_visible()
            assert page.get_by_label(label).evaluate("v => v.controls && !v.muted")
        # Each plays its own sound: Chromium decodes audio bytes as it plays.
        for label in labels:
            page.wait_for_function("""label => { const v = document.querySelector(`video[aria-label="${label}"]`);
              if (v.paused) v.play();
              return v.webkitAudioDecodedByteCount > 0; }""", arg=label, timeout=30_000)
        page.evaluate("document.querySelectorAll('#compare video').forEach(v => { v.pause(); v.muted = false; "
                      "v.currentTime = 0.3; })")
        page.screenshot(path=screenshots_dir / "studio-voice-result.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=screenshots_dir / "studio-voice-result-phone.png", full_page=True)
    finally:
        browser.close()
