"""Fixtures for the extraction tests: the real clips in ../shared/media (optional) and clips made with ffmpeg.

Tests on real footage skip with a reason when ../shared/media is absent, so the suite passes on a fresh clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

SHARED_MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
POSE_PYTHON = Path(__file__).resolve().parents[2] / ".venv-pose" / "bin" / "python"


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise pytest.UsageError("the extraction tests need the ffmpeg and ffprobe binaries (apt-get install ffmpeg)")


@pytest.fixture
def shared_media() -> Path:
    if not (SHARED_MEDIA / "carphone_pristine.mp4").exists():
        pytest.skip(f"optional real-footage test: {SHARED_MEDIA} is not present in this checkout")
    return SHARED_MEDIA


@pytest.fixture
def pose_python() -> Path:
    """The pose interpreter that `make pytest` installs; outside CI a checkout without it skips these tests."""
    if not POSE_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{POSE_PYTHON} is missing: `make pytest` should have installed it")
        pytest.skip(f"{POSE_PYTHON} is not installed (make .venv-pose/.installed)")
    return POSE_PYTHON


LavfiClip = Callable[..., Path]


@pytest.fixture
def lavfi_clip(tmp_path: Path) -> LavfiClip:
    """make(source, width, height, rate, frames, name=…, extra=[…]) -> an mp4 from one of ffmpeg's generators.

    `source` is a lavfi source name such as "testsrc" (moving pattern) or "color=c=gray" (an empty scene).
    """

    def make(source: str, width: int, height: int, rate: Fraction, frames: int, name: str = "clip.mp4",
             extra: tuple[str, ...] = ()) -> Path:
        path = tmp_path / name
        spec = f"{source}{':' if '=' in source else '='}size={width}x{height}:rate={rate.numerator}/{rate.denominator}"
        even = width % 2 == 0 and height % 2 == 0
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", spec, "-frames:v", str(frames),
                        "-c:v", "libx264", "-pix_fmt", "yuv420p" if even else "yuv444p", *extra, str(path)],
                       check=True)
        return path

    return make


TrimClip = Callable[[Path, int], Path]


@pytest.fixture
def trim_clip(tmp_path: Path) -> TrimClip:
    """trim(source, frames) -> the first `frames` frames of `source` as an mp4 in tmp_path, same fps and size.

    Lets model tests run on real footage in a fraction of a second; odd sizes are kept exact with yuv444p.
    """

    def trim(source: Path, frames: int) -> Path:
        path = tmp_path / f"{source.stem}-{frames}.mp4"
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                                "stream=width,height", "-of", "csv=p=0", str(source)],
                               check=True, capture_output=True, text=True)
        width, height = (int(v) for v in probe.stdout.strip().split(",")[:2])
        even = width % 2 == 0 and height % 2 == 0
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-map", "0:v:0", "-frames:v", str(frames),
                        "-fps_mode", "passthrough", "-c:v", "libx264", "-preset", "veryfast",
                        "-pix_fmt", "yuv420p" if even else "yuv444p", str(path)], check=True)
        return path

    return trim


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny models are 3-5x faster on one thread on a shared 2-core machine (no OpenMP spinning)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass(frozen=True)
class MovingSquare:
    """A textured square sliding at a constant speed: its top-left corner is at start + velocity * frame."""

    start: tuple[float, float]
    velocity: tuple[float, float]
    side: int = 56

    def corner(self, frame: float) -> tuple[float, float]:
        return self.start[0] + self.velocity[0] * frame, self.start[1] + self.velocity[1] * frame

    def holds(self, point: Sequence[float], frame: float, margin: float = 0.0) -> bool:
        """Whether `point` (x, y) lies on the square on `frame`, at least `margin` pixels inside its edges (a
        negative margin: within that many pixels outside)."""
        left, top = self.corner(frame)
        return (left + margin <= point[0] <= left + self.side - 1 - margin
                and top + margin <= point[1] <= top + self.side - 1 - margin)


def _texture(rng: np.random.Generator, height: int, width: int, blur: float, low: float, high: float) -> np.ndarray:
    """Smoothed noise (height, width) float32 spread over low..high: corners everywhere, as in real footage."""
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (height, width)).astype(np.float32), (0, 0), blur)
    return (noise - noise.min()) / (noise.max() - noise.min()) * (high - low) + low


def write_moving_squares(path: Path, squares: Sequence[MovingSquare], width: int = 256, height: int = 176,
                         frames: int = 40, seed: int = 0) -> Path:
    """An H.264 mp4 (24 fps, gray) of `squares` sliding over a still textured background, placed between pixels.

    The squares must not overlap: where one covers another, the truth of the covered points is not their motion.
    """
    rng = np.random.default_rng(seed)
    background = _texture(rng, height, width, 1.5, 40, 200)
    textures = [_texture(rng, square.side, square.side, 1.2, 30, 230) for square in squares]
    video = []
    for frame in range(frames):
        picture = background.copy()
        for square, texture in zip(squares, textures, strict=True):
            shift = np.array([[1, 0, square.corner(frame)[0]], [0, 1, square.corner(frame)[1]]], np.float32)
            moved = cv2.warpAffine(texture, shift, (width, height), flags=cv2.INTER_LINEAR)
            cover = cv2.warpAffine(np.ones_like(texture), shift, (width, height), flags=cv2.INTER_LINEAR)
            picture = picture * (1 - cover) + moved * cover
        video.append(np.repeat(np.clip(np.rint(picture), 0, 255).astype(np.uint8)[:, :, None], 3, axis=2))
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
                    "-framerate", "24", "-i", "pipe:", "-c:v", "libx264", "-crf", "12", "-pix_fmt", "yuv420p",
                    str(path)], input=np.stack(video).tobytes(), check=True)
    return path


SLIDING_SQUARES = (MovingSquare((24, 20), (1.5, 0.5)), MovingSquare((150, 90), (-1.0, -0.75)))
"""Two squares that cross the frame without meeting, one right and down, one left and up."""
