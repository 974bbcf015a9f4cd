"""Extraction speed of automatic dataset preparation, in frames per second per method and clip.

    .venv/bin/python bench/extraction.py                 # every method on every real clip, docs updated
    .venv/bin/python bench/extraction.py --method canny --no-docs

Each method is one entry of METHODS (name → callable(src, dst) -> ExtractionReport). A run is timed end to
end, as a worker pays for it: probe, decode, extract, encode (and for pose, starting the MediaPipe
interpreter); models are loaded once before timing, as a worker keeps them. Depth and captions use the
models in DEPTH_MODEL_PATH / CAPTION_MODEL_PATH when set, else tiny random stand-ins of the same classes
(which time the code path, not a real model). The table is printed and written to the section
"Automatic dataset preparation (extraction speed)" of docs/benchmarks.md (replaced if present).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from prep.extract.base import ExtractionError, ExtractionReport  # noqa: E402
from prep.extract.canny import CannySettings, extract_canny  # noqa: E402
from prep.extract.pose import DEFAULT_PYTHON, PoseSettings, extract_pose  # noqa: E402
from prep.extract.tracks import TrackSettings, extract_tracks  # noqa: E402
from prep.extract.video import clip_format  # noqa: E402

CAPTION_FRAMES = 8
_SCRATCH = tempfile.TemporaryDirectory(prefix="bench-models-")


def model_folder(kind: str) -> Path:
    """The configured model for `kind` ("depth" or "caption"), else a tiny stand-in built once."""
    configured = os.environ.get({"depth": "DEPTH_MODEL_PATH", "caption": "CAPTION_MODEL_PATH"}[kind])
    if configured:
        return Path(configured)
    from prep.extract.tiny_models import build_tiny_captioner, build_tiny_depth_model

    folder = Path(_SCRATCH.name) / kind
    if not folder.exists():
        (build_tiny_depth_model if kind == "depth" else build_tiny_captioner)(folder)
    return folder


def model_label(kind: str) -> str:
    env = {"depth": "DEPTH_MODEL_PATH", "caption": "CAPTION_MODEL_PATH"}[kind]
    return Path(os.environ[env]).name if os.environ.get(env) else "tiny random stand-in"


def depth(src: Path, dst: Path) -> ExtractionReport:
    from prep.extract.depth import DepthSettings, extract_depth, load_depth_model

    return extract_depth(src, dst, DepthSettings(), load_depth_model(model_folder("depth"), device="auto"))


def caption(src: Path, dst: Path) -> ExtractionReport:
    """One caption of the clip; `frames` in the report is the frames the captioner looked at."""
    from prep.extract.captions import caption_clip, load_captioner

    fmt = clip_format(src)
    text = caption_clip(load_captioner(model_folder("caption"), device="auto"), src, frames=CAPTION_FRAMES)
    return ExtractionReport("caption", CAPTION_FRAMES, fmt.fps, fmt.width, fmt.height, notes=[text])

MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ("carphone_pristine.mp4", "bikes.mp4", "cityCC0.mpg")
DOC = ROOT / "docs" / "benchmarks.md"
TITLE = "Automatic dataset preparation (extraction speed)"

Method = Callable[[Path, Path], ExtractionReport]
METHODS: dict[str, Method] = {
    "canny": lambda src, dst: extract_canny(src, dst, CannySettings()),
    "pose": lambda src, dst: extract_pose(src, dst, PoseSettings()),
    "tracks": lambda src, dst: extract_tracks(src, dst, TrackSettings()),
    "depth": depth,
    "caption": caption,
}


def warm_up(method: str) -> None:
    """Load the method's model once, outside the timing, as a long-lived worker would have it loaded."""
    if method == "depth":
        from prep.extract.depth import load_depth_model

        load_depth_model(model_folder("depth"), device="auto")
    elif method == "caption":
        from prep.extract.captions import load_captioner

        load_captioner(model_folder("caption"), device="auto")


@dataclass
class Result:
    method: str
    clip: str
    size: str
    frames: int
    seconds: float | None  # median wall time; None when the method refused the clip
    note: str = ""

    @property
    def fps(self) -> float | None:
        return self.frames / self.seconds if self.seconds else None


def measure(method: str, clip: Path, repeat: int, workdir: Path) -> Result:
    """Median wall time of `repeat` runs of `method` on `clip`."""
    fmt = clip_format(clip)
    size = f"{fmt.width}×{fmt.height}"
    times = []
    for run in range(repeat):
        started = time.perf_counter()
        try:
            report = METHODS[method](clip, workdir / f"{method}-{clip.stem}-{run}.mp4")
        except ExtractionError as refused:
            return Result(method, clip.name, size, fmt.frames, None, str(refused))
        times.append(time.perf_counter() - started)
    note = f"{report.empty_frames} frames without anybody" if report.empty_frames else ""
    if method == "caption":
        note = f"{CAPTION_FRAMES} frames sampled; one caption per clip"
    return Result(method, clip.name, size, report.frames, statistics.median(times), note)


def machine(load: float) -> str:
    """CPU model, cores and the load average `load` taken before the runs, for the reader to judge the numbers."""
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                      if line.startswith("model name")), model)
    return f"{model}, {os.cpu_count()} cores, load average {load:.1f} before the runs, no GPU used"


def versions() -> str:
    import cv2

    mediapipe = "not installed"
    if DEFAULT_PYTHON.exists():
        probe = subprocess.run([str(DEFAULT_PYTHON), "-c", "import mediapipe; print(mediapipe.__version__)"],
                               capture_output=True, text=True)
        mediapipe = probe.stdout.strip() or "not importable"
    return (f"OpenCV {cv2.__version__} (canny), MediaPipe {mediapipe} in .venv-pose (pose), "
            f"depth model: {model_label('depth')}, captioner: {model_label('caption')}")


def table(results: list[Result]) -> str:
    rows = ["| method | clip | size | frames | seconds | frames/s | ms/frame | note |",
            "|---|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        if r.seconds is None or r.fps is None:
            rows.append(f"| {r.method} | {r.clip} | {r.size} | {r.frames} | – | – | – | refused: {r.note} |")
            continue
        rows.append(f"| {r.method} | {r.clip} | {r.size} | {r.frames} | {r.seconds:.2f} | {r.fps:.1f} | "
                    f"{1000 / r.fps:.1f} | {r.note} |")
    return "\n".join(rows)


def section(results: list[Result], command: str, repeat: int, load: float) -> str:
    today = datetime.date.today().isoformat()
    return f"""## {TITLE}

Command: `{command}`

What it measures: wall time of one extraction as a worker runs it (probe, decode with ffmpeg, extract,
encode H.264 with ffmpeg; for pose also starting the MediaPipe interpreter, about a second), on the real clips
in `shared/media`, default settings, median of {repeat} run(s). Frames/s is the clip's frames over that time.

Machine: {machine(load)}; {versions()}.
Measured {today} while other developers' test suites shared the cores, so the numbers are pessimistic and
vary up to twofold from run to run. "Frames without anybody" are pose frames left black (a clip with nobody on
any frame is refused instead). Depth and caption rows with a tiny random stand-in measure the code path
(decoding, batching, resizing, encoding, prompt building, generation loop), not a real model: a real Depth
Anything V2 or Qwen2.5-VL belongs on a GPU worker, and its speed is not measured here. For captions,
"frames" is the frames the captioner looked at and seconds is the time per clip.

{table(results)}
"""


def update_doc(doc: Path, text: str) -> None:
    """Replace the section titled TITLE in `doc` (up to the next "## " heading), or append it."""
    current = doc.read_text() if doc.exists() else "# Benchmarks\n"
    heading = f"## {TITLE}\n"
    if heading in current:
        before, rest = current.split(heading, 1)
        after = rest[rest.index("\n## ") + 1:] if "\n## " in rest else ""
        current = before + text + ("\n" + after if after else "")
    else:
        current = current.rstrip("\n") + "\n\n" + text
    doc.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--method", choices=sorted(METHODS), action="append",
                        help="method(s) to measure (default: all)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per clip; the median is reported")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave {DOC.name} as it is")
    args = parser.parse_args()
    if not (MEDIA / CLIPS[0]).exists():
        sys.exit(f"The real clips are not here: {MEDIA}")
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for method in args.method or list(METHODS):
            warm_up(method)
            for clip in CLIPS:
                results.append(measure(method, MEDIA / clip, args.repeat, Path(tmp)))
                print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
    if not args.no_docs:
        command = " ".join([".venv/bin/python", "bench/extraction.py", *sys.argv[1:]])
        update_doc(DOC, section(results, command, args.repeat, load))
        print(f"Section “{TITLE}” written to {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
