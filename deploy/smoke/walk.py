"""Walks a running deployment in Chromium as a new creator: sign-up, the wizard, a live run, the adapter, the Studio.

    python deploy/smoke/walk.py http://127.0.0.1:8000 SCREENSHOT_DIR [--fault COMMAND]

With --fault, COMMAND runs once the GPU worker holds the run (it kills that worker, say); the walk then expects the
page to say the machine stopped answering, and the run to continue and finish on the restarted worker.

Everything goes through the deployment's own services: the web server (uvicorn, websockets), the cpu worker (pair
checks), the gpu worker (training and generation, with the tiny model when MODEL_PRESET=tiny), PostgreSQL, Redis
and the S3 bucket. Exits non-zero with Playwright's message at the first thing a creator would not see.
"""

from __future__ import annotations

import argparse
import re
import secrets
import subprocess
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

PASSWORD = "a-long-smoke-test-passphrase"
SOURCES = ("testsrc2", "mandelbrot")


def make_clip(path: Path, source: str, gray: bool = False) -> Path:
    """A 48-frame 24 fps 192×128 H.264 clip from one of ffmpeg's test sources (grey for a restoration reference)."""
    look = ",format=gray,format=yuv420p" if gray else ",format=yuv420p"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size=192x128:rate=24", "-frames:v", "48",
         "-vf", "null" + look, "-c:v", "libx264", str(path)], check=True)
    return path


def dataset(folder: Path) -> list[Path]:
    files = []
    for i, source in enumerate(SOURCES):
        files.append(make_clip(folder / f"street{i}.mp4", source))
        files.append(make_clip(folder / f"street{i}_ref.mp4", source, gray=True))
        (folder / f"street{i}.txt").write_text(f"a test pattern number {i}, steady camera")
        files.append(folder / f"street{i}.txt")
    return files


def sign_up(page: Page, url: str) -> None:
    page.goto(url + "/accounts/signup/")
    page.get_by_label("Username").fill("smoke" + secrets.token_hex(3))
    page.get_by_label("Email").fill("smoke@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your studio")).to_be_visible()


def launch_restoration(page: Page, files: list[Path], shots: Path) -> None:
    page.get_by_role("link", name="New training").click()
    page.get_by_role("button", name="Use Restoration").click()
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()
    page.locator("#id_files").set_input_files(files)
    # The checks run on the cpu worker; the list fills in as they finish.
    expect(page.locator("#pairs .summary")).to_contain_text("2 ready", timeout=120_000)
    page.screenshot(path=shots / "smoke-1-clips.png", full_page=True)
    page.get_by_role("link", name="Continue to settings").click()
    page.get_by_text("Quick test", exact=True).click()
    expect(page.get_by_label("Quick test")).to_be_checked()
    page.get_by_role("button", name="Save and review").click()
    expect(page.get_by_role("heading", name="Ready to train?")).to_be_visible()
    page.get_by_role("button", name="Launch training").click()
    expect(page.locator("#run")).to_have_attribute("data-live", "socket")


def watch_run(page: Page, shots: Path, fault: str | None) -> None:
    if fault:
        # The run is held by the GPU worker from the moment it prepares the clips.
        expect(page.locator("#run-state")).to_have_text(re.compile("Preparing|Training"), timeout=300_000)
        subprocess.run(fault, check=True)
        # The watchdog sends it back to the queue once the worker has been silent for WORKER_STALE_SECONDS (45 s).
        expect(page.locator("#run-log")).to_contain_text("stopped answering", timeout=240_000)
        page.screenshot(path=shots / "smoke-2-worker-lost.png", full_page=True)
        print("the worker was killed; the run went back to the queue", flush=True)
    expect(page.locator("#run-state")).to_have_text(re.compile("Finished|Failed|Cancelled"), timeout=900_000)
    if page.locator("#run-state").inner_text() != "Finished":
        raise AssertionError("the run did not finish: " + page.locator("#run-log").inner_text()[-2000:])
    page.screenshot(path=shots / "smoke-3-finished.png", full_page=True)
    # The validation samples play from the bucket through the app (byte ranges), as the clips did.
    page.wait_for_function(
        "() => { const v = document.querySelector('video[src*=\"sample\"], .samples video');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    link = page.get_by_role("link", name=re.compile(r"^Download Restoration.*\.safetensors$"))
    with page.expect_download() as download:
        link.click()
    header = Path(download.value.path()).read_bytes()[:9]
    assert header[8:9] == b"{", f"the adapter download is not a safetensors file: {header!r}"


def try_in_studio(page: Page, reference: Path, shots: Path) -> None:
    page.get_by_role("link", name="Try in Studio").first.click()
    expect(page.get_by_role("heading", name="Try an adapter")).to_be_visible()
    page.get_by_label("Upload a video").set_input_files(reference)
    page.get_by_label("Describe the video you want").fill("a sharp test pattern, steady camera")
    page.get_by_label("Frames", exact=True).fill("9")
    page.get_by_label("Steps", exact=True).fill("4")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-state")).to_have_text("Done", timeout=300_000)
    page.wait_for_function(
        "() => { const v = document.querySelector('#compare video[src$=\"/output.mp4\"]');"
        " return v && v.readyState >= 2 && v.videoWidth > 0; }", timeout=30_000)
    # Here the posters are made on first request and come from the bucket, after the videos' first frames: the boxes
    # must keep their size meanwhile (they were 0 px high).
    heights = page.evaluate(
        "[...document.querySelectorAll('#compare video')].map(v => v.getBoundingClientRect().height)")
    assert heights and all(height > 50 for height in heights), f"Studio videos laid out {heights} px high"
    page.screenshot(path=shots / "smoke-4-studio.png", full_page=True)


def main(url: str, shots: Path, fault: str | None) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        files = dataset(Path(scratch))
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        try:
            sign_up(page, url)
            print("signed up", flush=True)
            launch_restoration(page, files, shots)
            print("launched", page.url, flush=True)
            watch_run(page, shots, fault)
            print("run finished, adapter downloaded", flush=True)
            try_in_studio(page, files[1], shots)
            print("Studio generated a video", flush=True)
        except Exception:
            page.screenshot(path=shots / "smoke-failed.png", full_page=True)
            raise
        finally:
            browser.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="the deployment's address, e.g. http://127.0.0.1:8000")
    parser.add_argument("shots", type=Path, help="folder for the screenshots")
    parser.add_argument("--fault", help="a command run once the GPU worker holds the run (kills it, say)")
    args = parser.parse_args()
    main(args.url.rstrip("/"), args.shots, args.fault)
