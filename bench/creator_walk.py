"""A creator's first adapter on the default install, timed and photographed (docs/screenshots/, docs/benchmarks.md).

    .venv/bin/python bench/creator_walk.py                    # make run's default model (demo)
    .venv/bin/python bench/creator_walk.py --model tiny --shots /tmp/shots

It starts what `make run` starts (migrate, ensure_model, then `python -m config.stack`: embedded Redis, the
worker, beat, the watchdog and the web server) on a data folder of its own and a free port, and walks it in
Chromium as a new creator, saving a screenshot of every step (--shots, docs/screenshots/ by default):

    sign-up → the recipes → Restoration's help → 9 pairs uploaded and checked → Settings (Quick test) → Launch →
    the run live (preparing, training) → finished, with its samples → the Studio: a clip the adapter never saw,
    restored, beside the same seed without the adapter

The pairs are nine 1.5 s windows of the footage shipped for the demo model (engine/demo_footage: bikes, city,
bigbuckbunny; licences in its README), each with a reference damaged the way old phone video is: shrunk and
compressed hard, as tests/media/carphone_distorted.mp4 is. The Studio's reference is that clip, which neither the
demo model's build nor the adapter saw; the clean original, tests/media/carphone_pristine.mp4, is what both Studio
outputs are scored against (PSNR over every frame, after conforming it to the output's size, frame rate and length
as the Studio conformed the reference).

Measured: seconds from the first upload to a playable Studio clip (wall clock; the machine does nothing else), the
CPU seconds the stack's processes used meanwhile, and the two PSNRs. Printed as JSON; the numbers go to
docs/benchmarks.md by hand ("A creator's first adapter").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.media import conform, probe  # noqa: E402  (after the path: the bench runs from any folder)

FOOTAGE = ROOT / "engine" / "demo_footage"
HELD_OUT_DAMAGED = ROOT / "tests" / "media" / "carphone_distorted.mp4"
HELD_OUT_CLEAN = ROOT / "tests" / "media" / "carphone_pristine.mp4"
PASSWORD = "a-long-walk-passphrase"
CAPTIONS = {
    "bikes": "cyclists riding down a city street",
    "city": "a city skyline under a pale sky",
    "bigbuckbunny": "a cartoon rabbit in a green meadow",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def make_pairs(folder: Path, count: int = 9) -> list[Path]:
    """`count` clean clips with their damaged references and captions, named as the wizard pairs them."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    sources = list(CAPTIONS)
    for i in range(count):
        source = sources[i % len(sources)]
        start = 1.5 * (i // len(sources))
        clean = folder / f"{source}_{i}.mp4"
        ffmpeg("-ss", str(start), "-i", str(FOOTAGE / f"{source}.mp4"), "-t", "1.5", "-an",
               "-vf", "scale=320:180,setsar=1,format=yuv420p", "-c:v", "libx264", "-crf", "18", str(clean))
        # Shrunk to a phone's old resolution and compressed until blocks show, as the held-out clip is.
        ffmpeg("-i", str(clean), "-vf", "scale=160:90,scale=320:180:flags=bilinear,format=yuv420p",
               "-c:v", "libx264", "-crf", "44", str(folder / f"{source}_{i}_ref.mp4"))
        (folder / f"{source}_{i}.txt").write_text(CAPTIONS[source])
        files += [clean, folder / f"{source}_{i}_ref.mp4", folder / f"{source}_{i}.txt"]
    return files


class Stack:
    """`make run`'s processes on a data folder of their own."""

    def __init__(self, data: Path, port: int, model: str) -> None:
        self.port = port
        self.env = {**os.environ, "ICLORA_DATA_DIR": str(data), "PORT": str(port), "MODEL_PRESET": model}
        self.log = data / "stack.log"
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def start(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("ensure_model")
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "config.stack"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as answer:
                    if json.load(answer)["status"] == "ok":
                        return
            except OSError:
                pass
            time.sleep(1)
        raise RuntimeError(f"the stack did not become healthy; see {self.log}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the supervisor and every process under it, with their waited-for children's: the
        supervisor starts each of its processes in a session of its own, so the tree is followed by parent ids."""
        assert self.process is not None
        stats: dict[int, tuple[int, int]] = {}  # pid -> (parent pid, clock ticks)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            ticks = int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
            stats[int(stat.parent.name)] = (int(fields[1]), ticks)
        tree, grew = {self.process.pid}, True
        while grew:
            found = {pid for pid, (parent, _) in stats.items() if parent in tree} - tree
            tree |= found
            grew = bool(found)
        return sum(stats[pid][1] for pid in tree if pid in stats) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=shots / f"{name}.png", full_page=True)


def walk(page: Page, url: str, files: list[Path], shots: Path, stack: Stack) -> dict[str, Any]:
    page.goto(url + "/accounts/signup/")
    page.get_by_label("Username").fill("ana" + secrets.token_hex(2))
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Your studio")).to_be_visible()
    shot(page, shots, "01-dashboard")

    page.get_by_role("link", name="New training").click()
    expect(page.get_by_role("heading", name="What should your adapter do?")).to_be_visible()
    shot(page, shots, "02-recipes")
    page.get_by_role("link", name="More about Restoration").click()
    expect(page.get_by_role("heading", name="What makes a good pair")).to_be_visible()
    shot(page, shots, "03-restoration-help")
    page.get_by_role("button", name="Start a restoration training").click()
    expect(page.get_by_role("heading", name="Your clips")).to_be_visible()

    started, cpu_started = time.monotonic(), stack.cpu_seconds()
    page.locator("#id_files").set_input_files(files)
    expect(page.locator("#pairs .summary")).to_contain_text("9 ready", timeout=300_000)
    page.get_by_text(re.compile("Show each pair")).first.click()
    shot(page, shots, "04-clips-checked")
    page.get_by_role("link", name="Continue to settings").click()
    page.get_by_text("Quick test", exact=True).click()
    expect(page.get_by_label("Quick test")).to_be_checked()
    shot(page, shots, "05-settings")
    page.get_by_role("button", name="Save and review").click()
    expect(page.get_by_role("heading", name="Ready to train?")).to_be_visible()
    shot(page, shots, "06-launch")
    page.get_by_role("button", name="Launch training").click()

    expect(page.locator("#run-stages")).to_contain_text(re.compile(r"Preparing clip \d+ of"), timeout=300_000)
    shot(page, shots, "07-run-preparing")
    expect(page.locator("#run-stages")).to_contain_text(re.compile(r"Step \d+ of"), timeout=600_000)
    page.wait_for_timeout(15_000)  # a few points on the loss curve
    shot(page, shots, "08-run-training")
    expect(page.locator("#run-state")).to_have_text(re.compile("Finished|Failed|Cancelled"), timeout=1_800_000)
    if page.locator("#run-state").inner_text() != "Finished":
        raise AssertionError("the run did not finish: " + page.locator("#run-log").inner_text()[-2000:])
    trained = time.monotonic()
    shot(page, shots, "09-run-finished")

    page.get_by_role("link", name="Try in Studio").first.click()
    expect(page.get_by_role("heading", name="Try an adapter")).to_be_visible()
    page.get_by_label("Upload a video").set_input_files(HELD_OUT_DAMAGED)
    # As the recipe page and the Studio ask: the trigger phrase first (the Studio puts it there; fill() replaces it).
    page.get_by_label("Describe the video you want").fill("ENHANCE QUALITY a man talking in a car, sharp and clean")
    page.get_by_label(re.compile("Also make the same video without the adapter")).check()
    shot(page, shots, "10-studio")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#generation-state")).to_have_text("Done", timeout=900_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#compare video')].length >= 2 && [...document.querySelectorAll("
        "'#compare video')].every(v => v.readyState >= 2 && v.videoWidth > 0)", timeout=60_000)
    playable = time.monotonic()
    cpu = stack.cpu_seconds() - cpu_started
    page.wait_for_timeout(1_500)  # the players a frame in, so the screenshot shows pictures
    shot(page, shots, "11-studio-result")

    videos = {}
    for name, selector in (("with", '#compare video[src$="/output.mp4"]'),
                           ("without", '#compare video[aria-label="Result without the adapter"]')):
        src = page.locator(selector).get_attribute("src")
        assert src, f"no {name}-adapter video on the result page"
        videos[name] = page.request.get(url + src).body()
    return {"upload_to_trained_s": round(trained - started, 1),
            "upload_to_playable_studio_clip_s": round(playable - started, 1),
            "stack_cpu_s": round(cpu, 1), "videos": videos}


def psnr_against_clean(video: Path) -> float:
    """PSNR (dB, 8-bit) of a Studio output against the held-out clean clip conformed to the output's shape."""
    info = probe(video)
    out = conform(video, info.fps, info.width, info.height, info.frames).astype(np.float64)
    clean = conform(HELD_OUT_CLEAN, info.fps, info.width, info.height, info.frames).astype(np.float64)
    mse = float(np.mean((out - clean) ** 2))
    return round(10 * np.log10(255.0**2 / mse), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo", choices=("demo", "tiny"), help="MODEL_PRESET (default demo)")
    parser.add_argument("--shots", type=Path, default=ROOT / "docs" / "screenshots", help="where the PNGs go")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its path is printed)")
    args = parser.parse_args()
    args.shots.mkdir(parents=True, exist_ok=True)
    # A TERM (a timeout, say) unwinds like Ctrl-C, so the stack started below is stopped, not left running.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data = Path(tempfile.mkdtemp(prefix="creator-walk-"))
    stack = Stack(data, free_port(), args.model)
    try:
        files = make_pairs(data / "clips")
        stack.start()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            try:
                result = walk(page, f"http://127.0.0.1:{stack.port}", files, args.shots, stack)
            except Exception:
                shot(page, args.shots, "failed")
                raise
            finally:
                browser.close()
        scores = {}
        for name, body in result.pop("videos").items():
            path = data / f"studio_{name}.mp4"
            path.write_bytes(body)
            scores[f"psnr_{name}_adapter_db"] = psnr_against_clean(path)
        result |= scores
        result["gain_db"] = round(scores["psnr_with_adapter_db"] - scores["psnr_without_adapter_db"], 2)
        result |= {"model": args.model, "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                   "date": time.strftime("%Y-%m-%d")}
        print(json.dumps(result, indent=2))
        return 0
    finally:
        stack.stop()
        if args.keep:
            print(f"data kept in {data}")
        else:
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
