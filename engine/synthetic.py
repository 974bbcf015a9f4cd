"""Synthetic pairs made with ffmpeg's generators: for tests, benchmarks and trying the trainer without footage.

Each pair is a "restoration" task: the target is a generated, moving, coloured clip and the reference is the
same clip blurred and darkened. Different seeds give different content, so an adapter can only predict a
held-out target well by reading its reference.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from .dataset import Pair, write_manifest

SOURCES = (
    "gradients=s={w}x{h}:r={fps}:d={d}:seed={seed}:speed=0.03:c0=#{c0}:c1=#{c1}",
    "testsrc2=s={w}x{h}:r={fps}:d={d}",
    "mandelbrot=s={w}x{h}:r={fps}:start_scale={scale}",
    "life=s={w}x{h}:r={fps}:seed={seed}:mold=10:life_color=#{c0}:death_color=#{c1}:mold_color=#{c1}",
    "cellauto=s={w}x{h}:r={fps}:seed={seed}:rule={rule}",
    "smptehdbars=s={w}x{h}:r={fps}:d={d}",
)
DEGRADE = "boxblur=3:1,noise=alls=12:allf=t,eq=brightness=-0.08"


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


def make_clip(
    path: Path,
    seed: int,
    width: int = 160,
    height: int = 128,
    fps: float = 24.0,
    seconds: float = 1.0,
    degrade: bool = False,
    scale: int = 1,
) -> Path:
    """One generated clip. `degrade` applies the reference degradation; `scale` divides the size."""
    colors = ["ff4020", "20a0ff", "40ff60", "ffd020", "c040ff", "ffffff", "202020"]
    src = SOURCES[seed % len(SOURCES)].format(
        w=width,
        h=height,
        fps=fps,
        d=seconds,
        seed=seed,
        c0=colors[seed % 7],
        c1=colors[(seed * 3 + 1) % 7],
        scale=1.0 + seed * 0.7,
        rule=30 + 2 * seed,
    )
    filters = [f"hue=h={(seed * 47) % 360}", "format=yuv420p"]
    if degrade:
        filters.insert(1, DEGRADE)
    if scale != 1:
        filters.insert(0, f"scale={width // scale}:{height // scale}")
    _ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            src,
            "-t",
            str(seconds),
            "-vf",
            ",".join(filters),
            "-c:v",
            "libx264",
            "-crf",
            "18",
            str(path),
        ]
    )
    return path


def make_pairs(
    folder: str | Path,
    count: int,
    width: int = 160,
    height: int = 128,
    fps: float = 24.0,
    seconds: float = 1.0,
    first_seed: int = 0,
    reference_scale: int = 1,
) -> Path:
    """Write `count` pairs and a `manifest.jsonl` into `folder`; return the manifest path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for i in range(count):
        seed = first_seed + i
        target = make_clip(folder / f"target_{seed:03d}.mp4", seed, width, height, fps, seconds)
        ref = make_clip(
            folder / f"reference_{seed:03d}.mp4", seed, width, height, fps, seconds, degrade=True, scale=reference_scale
        )
        pairs.append(Pair(i, f"restored clip {seed}", target, ref))
    return write_manifest(pairs, folder / "manifest.jsonl")
