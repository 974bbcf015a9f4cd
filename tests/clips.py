"""Clips made with ffmpeg's generators, so every rule is tested without anyone's footage."""

from __future__ import annotations

import subprocess
from pathlib import Path

REAL_MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
NO_REAL_MEDIA = f"real clips not found at {REAL_MEDIA} (they sit beside the checkout, not in it)"


def make_clip(path: Path, *, width: int = 160, height: int = 128, fps: float = 24, frames: int = 48,
              audio: bool = False, source: str = "testsrc2", gray: bool = False, faststart: bool = True) -> Path:
    """An H.264 mp4 with exactly `frames` frames (and a sine tone when `audio`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=s={width}x{height}:r={fps}"]
    if audio:
        args += ["-f", "lavfi", "-i", "sine=frequency=440"]
    vf = "format=gray,format=yuv420p" if gray else "format=yuv420p"
    args += ["-frames:v", str(frames), "-vf", vf, "-c:v", "libx264", "-preset", "ultrafast"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    if faststart:
        args += ["-movflags", "+faststart"]
    subprocess.run([*args, str(path)], check=True)
    return path


def spliced(first: Path, second: Path, path: Path) -> Path:
    """`first` then `second` in one clip: a hard cut between two shots, as an edited clip has."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(first), "-i", str(second), "-filter_complex",
                    "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast",
                    "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def two_shot_pair(folder: Path, name: str = "walk") -> tuple[Path, Path]:
    """A target edited from two shots of 24 frames (a cut at 1 s) and its grey reference cut at the same frame."""
    parts = [make_clip(folder / f"{name}-part{i}.mp4", frames=24, source=source, gray=gray)
             for i, (source, gray) in enumerate((("testsrc2", False), ("mandelbrot", False), ("testsrc2", True),
                                                 ("mandelbrot", True)))]
    return (spliced(parts[0], parts[1], folder / f"{name}.mp4"),
            spliced(parts[2], parts[3], folder / f"{name}_ref.mp4"))


def stored_sideways(source: Path, path: Path, rotate: int = 90) -> Path:
    """A copy of `source` tagged to be turned by `rotate` degrees when played, as phones store portrait video."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c", "copy", "-metadata:s:v:0",
                    f"rotate={rotate}", str(path)], check=True)
    return path


def make_image(path: Path, width: int = 160, height: int = 128, source: str = "testsrc2") -> Path:
    """A still image (PNG or JPG by the name) of the first frame of an ffmpeg `source`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=s={width}x{height}",
                    "-frames:v", "1", str(path)], check=True)
    return path


def truncate(source: Path, path: Path, keep: float = 0.5) -> Path:
    """A copy cut off part-way, like an interrupted download."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path
