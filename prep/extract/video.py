"""Stream a clip's frames in and a derived clip's frames out, frame for frame, at the clip's own fps and size.

Both directions pipe raw RGB through the `ffmpeg` binary, so memory stays at one frame whatever the length.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import ffmpeg
import numpy as np

from prep.extract.base import ExtractionError


@dataclass(frozen=True)
class ClipFormat:
    """The frame rate (exact, as a fraction), size and frame count a derived clip must keep."""

    rate: Fraction
    width: int
    height: int
    frames: int

    @property
    def fps(self) -> float:
        return float(self.rate)


def clip_format(path: str | Path) -> ClipFormat:
    """Probe `path`; an unreadable file or one without a video stream is an `ExtractionError`."""
    try:
        info = ffmpeg.probe(str(path), count_frames=None, select_streams="v:0")
    except ffmpeg.Error as err:
        raise ExtractionError(f"{Path(path).name} could not be read as a video.") from err
    streams = info.get("streams") or []
    if not streams:
        raise ExtractionError(f"{Path(path).name} has no video in it.")
    stream = streams[0]
    rate = Fraction(stream.get("avg_frame_rate") or "0/1")
    if rate <= 0:
        rate = Fraction(stream.get("r_frame_rate") or "0/1")
    if rate <= 0:
        raise ExtractionError(f"{Path(path).name} does not say its frame rate.")
    frames = int(stream.get("nb_read_frames") or stream.get("nb_frames") or 0)
    return ClipFormat(rate.limit_denominator(100000), int(stream["width"]), int(stream["height"]), frames)


def read_frames(path: str | Path, fmt: ClipFormat) -> Iterator[np.ndarray]:
    """Every decoded frame of `path` once, as uint8 RGB of shape (H, W, 3), without dropping or repeating any."""
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    size = fmt.width * fmt.height * 3
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        while chunk := proc.stdout.read(size):
            if len(chunk) < size:
                break
            yield np.frombuffer(chunk, np.uint8).reshape(fmt.height, fmt.width, 3)
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


class FrameWriter:
    """Write frames (H, W, 3) uint8 RGB to an H.264 mp4 at an exact rate; use as a context manager.

    Even sizes are encoded as yuv420p (plays in every browser); odd sizes as yuv444p so the size stays exact.
    """

    def __init__(self, path: str | Path, fmt: ClipFormat) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        even = fmt.width % 2 == 0 and fmt.height % 2 == 0
        args = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{fmt.width}x{fmt.height}", "-framerate", f"{fmt.rate.numerator}/{fmt.rate.denominator}",
                "-i", "pipe:", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                "-pix_fmt", "yuv420p" if even else "yuv444p", "-movflags", "+faststart", str(self.path)]
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=subprocess.PIPE)

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.fmt.height, self.fmt.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape} {frame.dtype}; expected "
                             f"({self.fmt.height}, {self.fmt.width}, 3) uint8")
        assert self._proc.stdin is not None
        self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        self.count += 1

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        stderr = self._proc.stderr.read().decode("utf-8", "replace") if self._proc.stderr else ""
        code = self._proc.wait()
        if kind is not None:
            self.path.unlink(missing_ok=True)
        elif code != 0:
            self.path.unlink(missing_ok=True)
            raise ExtractionError(f"The derived video could not be written ({stderr.strip()[-200:]}).")
