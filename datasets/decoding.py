"""Decoding a clip to the end, and what that pass can tell besides: where the shot changes and how long the
picture stands still.

One ffmpeg pass does it all, so a 2 GB clip is decoded once. Shot changes use ffmpeg's scene score (0–1, the
share of the picture that changed between two frames, `select`'s `scene`), on a small copy of each frame: hard cuts
in real footage score 0.27–0.7, continuous shots stay under 0.1 (measured on the clips in ../shared/media).
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

DECODE_TIMEOUT_S = 1800
SCENE_CUT = 0.2  # scene score above which two frames belong to different shots
FREEZE_NOISE = 0.003  # freezedetect's default: frames closer than this count as the same picture
FREEZE_SECONDS = 0.5  # shortest stretch counted as standing still


@dataclass
class Decoded:
    frames: int  # frames that decoded
    errors: list[str]  # the decoder's error lines
    cuts: list[float] = field(default_factory=list)  # seconds at which a new shot starts
    frozen_seconds: float = 0.0  # how long the picture stands still, in all


def decode_to_end(path: str | Path, analyse: bool = False) -> Decoded:
    """Decode every video frame; with `analyse`, also find shot changes and frozen stretches."""
    with tempfile.NamedTemporaryFile("w+", suffix=".txt") as metadata:
        filters = ["-vf", _analysis_filters(metadata.name)] if analyse else []
        cmd = ["ffmpeg", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1", "-i", str(path),
               "-map", "0:v:0", *filters, "-f", "null", "-"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DECODE_TIMEOUT_S, check=False)
        printed = Path(metadata.name).read_text(errors="replace") if analyse else ""
    frames = [int(m) for m in re.findall(r"^frame=(\d+)$", proc.stdout, re.MULTILINE)]
    errors = [line for line in proc.stderr.splitlines() if line.strip()]
    return Decoded(frames[-1] if frames else 0, errors, *_read_analysis(printed))


def _analysis_filters(metadata_file: str) -> str:
    # select passes every frame (scene >= 0) and records its scene score; metadata prints each frame's keys.
    escaped = metadata_file.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")
    return (f"scale=160:-2:flags=fast_bilinear,select='gte(scene\\,0)',"
            f"freezedetect=n={FREEZE_NOISE}:d={FREEZE_SECONDS},metadata=mode=print:file='{escaped}'")


def _read_analysis(printed: str) -> tuple[list[float], float]:
    """Shot changes and seconds frozen from the per-frame metadata; a freeze still open at the end lasts to it
    (freezedetect reports a freeze's end only when the picture moves again)."""
    cuts: list[float] = []
    frozen, time, step = 0.0, 0.0, 0.0
    started: float | None = None
    for line in printed.splitlines():
        key, _, value = line.partition("=")
        if line.startswith("frame:"):
            found = re.search(r"pts_time:([\d.]+)", line)
            if found:
                step, time = float(found.group(1)) - time, float(found.group(1))
        elif key == "lavfi.scene_score" and time > 0 and float(value) > SCENE_CUT:
            cuts.append(round(time, 2))
        elif key == "lavfi.freezedetect.freeze_start":
            started = float(value)
        elif key == "lavfi.freezedetect.freeze_end" and started is not None:
            frozen, started = frozen + float(value) - started, None
    if started is not None:
        frozen += time + step - started
    return cuts, frozen
