"""Extraction speed of motion tracks (Lucas-Kanade point tracks drawn in the Motion-Track IC-LoRA's format).

    .venv/bin/python bench/track_extraction.py              # every real clip, rows written to docs/benchmarks.md
    .venv/bin/python bench/track_extraction.py --repeat 3 --no-docs

Timed as bench/extraction.py times the other methods (its `measure`: one whole extraction as a worker runs it,
probe, decode, follow, draw, encode), plus the following alone (`track_clip`: decode and Lucas-Kanade, no drawing,
no encoding) to show where the time goes. The rows of method "tracks" in that script's section of
docs/benchmarks.md, "Automatic dataset preparation (extraction speed)", are replaced (or added) and a paragraph
under the table says how they were measured; the other methods' rows are left as they are.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import statistics
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402

from prep.extract.tracks import TrackSettings, extract_tracks, track_clip  # noqa: E402


def _extraction_bench() -> ModuleType:
    """bench/extraction.py as a module: bench/ is a folder of scripts, not a package."""
    spec = importlib.util.spec_from_file_location("bench_extraction", ROOT / "bench" / "extraction.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


bench = _extraction_bench()
bench.METHODS["tracks"] = lambda src, dst: extract_tracks(src, dst, TrackSettings())
NOTE_START = "Motion-track rows (method `tracks`):"


def following_seconds(clip: Path, repeat: int) -> float:
    """Median wall time of decoding and following points alone (no drawing, no encoding)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        track_clip(clip, TrackSettings())
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def note(command: str, repeat: int, load: float) -> str:
    today = datetime.date.today().isoformat()
    defaults = TrackSettings()
    text = (f"{NOTE_START} `{command}`, measured {today} on {bench.machine(load)}; OpenCV {cv2.__version__}, "
            f"default settings ({defaults.tracks} tracks, trail of {defaults.trail_length} frames), median of "
            f"{repeat} run(s). The note gives the share of the time spent decoding and following points "
            "(Lucas-Kanade forward and back, corner seeding); the rest is drawing the trails and encoding.")
    return textwrap.fill(text, width=115, break_on_hyphens=False, break_long_words=False) + "\n"


def update_doc(doc: Path, rows: list[str], text: str) -> None:
    """Put `rows` in place of the section's "| tracks |" rows (after its last row) and `text` under its table."""
    current = doc.read_text()
    heading = f"## {bench.TITLE}\n"
    if heading not in current:
        sys.exit(f"{doc.name} has no section “{bench.TITLE}”: run bench/extraction.py first")
    before, rest = current.split(heading, 1)
    section, _, after = rest.partition("\n## ")
    lines, in_note = [], False
    for line in section.rstrip("\n").split("\n"):
        in_note = line.startswith(NOTE_START) or (in_note and line != "")  # the note runs to the blank line
        if not in_note and not line.startswith("| tracks |"):
            lines.append(line)
    last_row = max(i for i, line in enumerate(lines) if line.startswith("|"))
    lines[last_row + 1:last_row + 1] = rows
    body = "\n".join(lines).rstrip("\n") + "\n\n" + text
    doc.write_text(before + heading + body + ("\n## " + after if after else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=1, help="runs per clip; the median is reported")
    parser.add_argument("--no-docs", action="store_true", help=f"print only; leave {bench.DOC.name} as it is")
    args = parser.parse_args()
    if not (bench.MEDIA / bench.CLIPS[0]).exists():
        sys.exit(f"The real clips are not here: {bench.MEDIA}")
    load = os.getloadavg()[0]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in bench.CLIPS:
            result = bench.measure("tracks", bench.MEDIA / clip, args.repeat, Path(tmp))
            if result.seconds:
                share = following_seconds(bench.MEDIA / clip, args.repeat) / result.seconds
                result.note = f"following {min(share, 1.0):.0%} of the time"
            results.append(result)
            print(bench.table(results[-1:]).splitlines()[-1], flush=True)
    rows = bench.table(results).splitlines()[2:]
    print("\n".join(rows))
    if not args.no_docs:
        command = " ".join([".venv/bin/python", "bench/track_extraction.py", *sys.argv[1:]])
        update_doc(bench.DOC, rows, note(command, args.repeat, load))
        print(f"Rows written to “{bench.TITLE}” in {bench.DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
