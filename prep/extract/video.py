"""Stream a clip's frames in and a derived clip's frames out, frame for frame, at the clip's own fps and size.

Both directions pipe raw RGB through the `ffmpeg` binary, so memory stays at one frame whatever the length.
"""

from __future__ import annotations

import contextlib
import itertools
import subprocess
import tempfile
from collections.abc import Generator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import ffmpeg
import numpy as np

from engine.media import display_rotation, frame_times, hdr_kind, sdr_filters
from prep.extract.base import ExtractionError


@dataclass(frozen=True)
class ClipFormat:
    """The frame rate (exact, as a fraction), size and frame count a derived clip must keep."""

    rate: Fraction
    width: int
    height: int
    frames: int
    hdr: str = ""  # "hlg" / "pq": decoded to standard range, as the trainer decodes the clip (`sdr_filters`)
    # Variable frame rate (phones): every frame's presentation time, in `time_base` units, which the derived clip
    # keeps so that resampling it and its source to a training rate picks the same moments. None: a constant rate.
    frame_pts: tuple[int, ...] | None = None
    time_base: Fraction | None = None

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
    width, height = int(stream["width"]), int(stream["height"])
    if display_rotation(stream) % 180 == 90:
        # ffmpeg turns the frames upright when it decodes (phone clips), so the frames read are the other way round.
        width, height = height, width
    timing = _uneven_frame_times(path, frames)
    return ClipFormat(rate.limit_denominator(100000), width, height, frames, hdr_kind(stream),
                      *(timing or (None, None)))


def _uneven_frame_times(path: str | Path, frames: int) -> tuple[tuple[int, ...], Fraction] | None:
    """(presentation timestamps of every frame, time base) when the frames are unevenly spaced, else None.

    Spacing that varies by one tick is rounding of a constant rate (29.97 fps in a 1/600 time base), not a
    variable one.
    """
    times = frame_times(path)
    if times is None or len(times[0]) != frames:
        return None
    pts, time_base = times
    steps = [b - a for a, b in itertools.pairwise(pts)]
    if max(steps) - min(steps) <= 1:
        return None
    return tuple(pts), time_base


def read_frames(path: str | Path, fmt: ClipFormat,
                size: tuple[int, int] | None = None) -> Generator[np.ndarray, None, None]:
    """Every decoded frame of `path` once, as uint8 RGB of shape (H, W, 3), without dropping or repeating any.

    `size` (width, height) scales the frames to it (previews); None keeps the clip's own size. A decoder that
    stops with an error raises `ExtractionError` once the frames it did decode are consumed.
    """
    width, height = size or (fmt.width, fmt.height)
    filters = [sdr_filters(fmt.hdr)] if fmt.hdr else []
    if size is not None:
        filters.append(f"scale={width}:{height}")
    vf = ["-vf", ",".join(filters)] if filters else []
    args = ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:v:0", *vf, "-fps_mode", "passthrough",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    size_bytes = width * height * 3
    # stderr goes to a file, not a pipe: a damaged clip can log more than a pipe holds, and ffmpeg would then
    # block on its log while we block on its frames.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        try:
            while chunk := proc.stdout.read(size_bytes):
                if len(chunk) < size_bytes:
                    break
                yield np.frombuffer(chunk, np.uint8).reshape(height, width, 3)
            if proc.wait() != 0:
                raise ExtractionError(f"{Path(path).name} could not be decoded to the end ({_tail(log)}).")
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()


def _tail(log: IO[bytes]) -> str:
    """The last line of an ffmpeg log file, the one that says why it stopped."""
    log.seek(0)
    lines = log.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][-200:] if lines else "no reason given"


class FrameWriter:
    """Write frames (H, W, 3) uint8 RGB to an H.264 mp4 at an exact rate; use as a context manager.

    Even sizes are encoded as yuv420p (plays in every browser); odd sizes as yuv444p so the size stays exact. A
    variable-frame-rate source (`ClipFormat.frame_pts`) gets its own frame times back, frame for frame.
    """

    def __init__(self, path: str | Path, fmt: ClipFormat) -> None:
        self.path = Path(path)
        self.fmt = fmt
        self.count = 0
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pix_fmt = "yuv420p" if fmt.width % 2 == 0 and fmt.height % 2 == 0 else "yuv444p"
        self._encoder: _PipeEncoder | _TimedEncoder = (
            _TimedEncoder(self.path, fmt, pix_fmt) if fmt.frame_pts else _PipeEncoder(self.path, fmt, pix_fmt)
        )

    def write(self, frame: np.ndarray) -> None:
        if frame.shape != (self.fmt.height, self.fmt.width, 3) or frame.dtype != np.uint8:
            raise ValueError(f"frame of shape {frame.shape} {frame.dtype}; expected "
                             f"({self.fmt.height}, {self.fmt.width}, 3) uint8")
        self._encoder.write(frame, self.count)
        self.count += 1

    def _finish(self) -> tuple[int, str]:
        return self._encoder.finish()

    def _discard(self) -> None:
        if not self.path.is_dir():  # never remove a folder that was named by mistake
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FrameWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        code, stderr = self._finish()
        if kind is not None:
            self._discard()
        elif code != 0:
            self._discard()
            raise ExtractionError(f"The derived video could not be written ({stderr[-200:]}).")


class _PipeEncoder:
    """ffmpeg's command line, fed raw frames on a pipe, at the constant rate `fmt.rate`."""

    def __init__(self, path: Path, fmt: ClipFormat, pix_fmt: str) -> None:
        args = ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                "-s", f"{fmt.width}x{fmt.height}", "-framerate", f"{fmt.rate.numerator}/{fmt.rate.denominator}",
                "-i", "pipe:", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
                "-pix_fmt", pix_fmt, "-movflags", "+faststart", str(path)]
        # ffmpeg's log goes to a file so that it can never fill a pipe nobody reads while frames are written;
        # `finish` closes it.
        self._log = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(args, stdin=subprocess.PIPE, stderr=self._log)
        self._stderr: str | None = None

    def write(self, frame: np.ndarray, index: int) -> None:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            # ffmpeg stopped early (disk full, unwritable path): its log says why.
            _, stderr = self.finish()
            raise ExtractionError(f"The derived video could not be written ({stderr[-200:]}).") from None

    def finish(self) -> tuple[int, str]:
        """Close ffmpeg's input and wait for it: (exit code, its log). Safe to call twice."""
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):  # ffmpeg is already gone; its exit code and log tell why
            self._proc.stdin.close()
        code = self._proc.wait()
        if self._stderr is None:
            self._stderr = _tail(self._log)
            self._log.close()
        return code, self._stderr


class _TimedEncoder:
    """PyAV, which can give every frame its own time: ffmpeg's command line writes raw frames at a constant rate
    only, and a phone clip's derived reference at a constant rate drifts from its source where the phone slowed
    down (measured: up to 30/255 apart after resampling both to 24 fps, against ~2 when the times are kept)."""

    def __init__(self, path: Path, fmt: ClipFormat, pix_fmt: str) -> None:
        # av (PyAV, ~0.2 s): only the timed encoder needs it; the web process imports this module for settings checks
        import av

        assert fmt.frame_pts is not None and fmt.time_base is not None
        self._pts, self._time_base = fmt.frame_pts, fmt.time_base
        # Each frame lasts until the next; the last as long as the one before it. Without this the encoder gives
        # the last frame 1/average-rate, and the copy's length differs from its source's.
        starts = [t - fmt.frame_pts[0] for t in fmt.frame_pts]
        lasts = [b - a for a, b in itertools.pairwise(starts)]
        self._durations = dict(zip(starts, [*lasts, lasts[-1]], strict=True))
        self._error: str | None = None
        self._closed = False
        try:
            self._container = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
            self._stream = self._container.add_stream(
                "libx264", rate=fmt.rate, options={"crf": "16", "preset": "veryfast"}
            )
        except (av.error.FFmpegError, OSError) as err:
            raise ExtractionError(f"The derived video could not be written ({err}).") from err
        self._stream.width, self._stream.height, self._stream.pix_fmt = fmt.width, fmt.height, pix_fmt
        # Both: the stream's for the file, the encoder's so that the frames' times pass through unchanged.
        self._stream.time_base = self._stream.codec_context.time_base = self._time_base

    def write(self, frame: np.ndarray, index: int) -> None:
        # av (PyAV, ~0.2 s): only the timed encoder needs it; the web process imports this module for settings checks
        import av

        if index >= len(self._pts):
            raise ExtractionError(f"More frames were made than the clip has ({len(self._pts)}).")
        picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        picture.pts, picture.time_base = self._pts[index] - self._pts[0], self._time_base
        try:
            self._mux(self._stream.encode(picture))
        except (av.error.FFmpegError, OSError) as err:
            self._error = str(err)
            raise ExtractionError(f"The derived video could not be written ({err}).") from err

    def _mux(self, packets: list[Any]) -> None:
        for packet in packets:
            if packet.pts is not None and packet.pts in self._durations:
                packet.duration = self._durations[packet.pts]
            self._container.mux(packet)

    def finish(self) -> tuple[int, str]:
        """Flush the encoder and close the file: (0, "") or (1, why). Safe to call twice."""
        # av (PyAV, ~0.2 s): only the timed encoder needs it; the web process imports this module for settings checks
        import av

        if not self._closed:
            self._closed = True
            try:
                if self._error is None:
                    self._mux(self._stream.encode(None))
            except (av.error.FFmpegError, OSError) as err:
                self._error = str(err)
            finally:
                self._container.close()
        return (1, self._error) if self._error is not None else (0, "")
