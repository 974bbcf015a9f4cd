"""What `prepare` costs on the CPU quick path, for docs/benchmarks.md ("CPU quick path: prepare").

    .venv/bin/python bench/prepare_cpu.py [--tree DIR] [--pairs 9]

In a fresh process: the engine's imports (what a worker's pool process paid at its first run before
config.celery imported the engine ahead of the fork), then `prepare` of the demo model's Restoration-sized pairs
(256x160x25, synthetic) into an empty cache, then again with everything cached. Wall and CPU seconds, the CPU of
ffmpeg/ffprobe counted (children). `--tree` runs another checkout's code (e.g. a worktree of an older commit) on the
same clips, for a side-by-side comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure(tree: Path, pairs_dir: Path, work: Path) -> dict[str, float]:
    """Runs inside `tree`'s code (sys.path set by the caller)."""
    started, cpu0 = time.perf_counter(), cpu()
    from engine.buckets import Bucket
    from engine.dataset import prepare, read_manifest
    from engine.loader import load_pipeline

    imported, cpu1 = time.perf_counter(), cpu()
    pipe = load_pipeline("demo", device="cpu", with_text_encoder=True, with_transformer=False)
    loaded, cpu2 = time.perf_counter(), cpu()
    pairs = read_manifest(pairs_dir / "manifest.jsonl")
    bucket = Bucket(256, 160, 25, 24.0)
    cache = work / "cache"
    prepare(pipe, pairs, bucket, cache, max_sequence_length=128)
    cold, cpu3 = time.perf_counter(), cpu()
    prepare(pipe, pairs, bucket, cache, max_sequence_length=128)
    warm, cpu4 = time.perf_counter(), cpu()
    return {"import_s": imported - started, "import_cpu_s": cpu1 - cpu0, "load_s": loaded - imported,
            "load_cpu_s": cpu2 - cpu1, "prepare_s": cold - loaded, "prepare_cpu_s": cpu3 - cpu2,
            "cached_prepare_s": warm - cold, "cached_prepare_cpu_s": cpu4 - cpu3, "pairs": len(pairs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose engine to run (default: this one)")
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--inner", nargs=2, type=Path, help=argparse.SUPPRESS)  # pairs dir, work dir
    args = parser.parse_args()
    if args.inner:
        sys.path.insert(0, str(args.tree))
        print(json.dumps(measure(args.tree, *args.inner)))
        return
    with tempfile.TemporaryDirectory() as scratch:
        pairs = Path(scratch) / "pairs"
        subprocess.run([sys.executable, "-m", "training", "make-demo-pairs", str(pairs), "--count", str(args.pairs),
                        "--width", "256", "--height", "160", "--seconds", "1.2"], cwd=ROOT, check=True,
                       capture_output=True)
        work = Path(scratch) / "work"
        work.mkdir()
        run = subprocess.run([sys.executable, __file__, "--tree", str(args.tree), "--inner", str(pairs), str(work)],
                             cwd=args.tree, check=True, capture_output=True, text=True)
        shutil.rmtree(work, ignore_errors=True)
        print(run.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
