"""Small sound files for the voice tests, made with ffmpeg (no torch: the checks under test do not load it)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def tone(path: Path, seconds: float, rate: int = 44100, volume: float = 1.0, hz: int = 330) -> Path:
    """A sine tone of `seconds` (wav, mp3, m4a, ogg… by the suffix): ffmpeg's sine is at about -18 dB."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency={hz}:sample_rate={rate}:duration={seconds}", "-af", f"volume={volume}",
                    str(path)], check=True)
    return path


def silence(path: Path, seconds: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t",
                    str(seconds), str(path)], check=True)
    return path
