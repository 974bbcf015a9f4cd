"""Resolution buckets and which one a clip trains in. Plain Python (no torch): the web process uses it too.

A bucket is a shape W x H x F @ fps that clips are resized, centre-cropped and trimmed to. A run may have several
(e.g. one landscape, one portrait); each pair goes to the bucket that fits its target best, as Lightricks'
ltx-trainer does during preprocessing (`scripts/process_videos.py`): the closest aspect ratio, compared on a log
scale so 16:9 and 9:16 are equally far from 1:1, among the buckets whose frame count the clip can fill. Ties go to
the bucket with more pixels, then more frames, then the one listed first, so the choice never depends on luck.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

# Distances closer than this are ties: log(4/3) and -log(3/4) differ in the last bits of a float.
TIE = 1e-6
LABEL_RE = re.compile(r"^(\d+)x(\d+)x(\d+)@([\d.]+)$")


def ordinal(n: int) -> str:
    """2 -> "2nd", 3 -> "3rd", 4 -> "4th" (1 to 20, all a frame step needs)."""
    return f"{n}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(n if n < 20 else n % 10, 'th') }"


@dataclass(frozen=True)
class Bucket:
    """The shape every target clip of the bucket is conformed to; the reference gets `width/d x height/d`."""

    width: int
    height: int
    frames: int
    fps: float

    def check(self, downscale: int = 1, temporal: int = 1) -> None:
        step = 32 * downscale
        if self.width % step or self.height % step:
            raise ValueError(
                f"bucket {self.width}x{self.height} must be a multiple of {step} (32 x downscale {downscale})"
            )
        if self.frames < 1 or (self.frames - 1) % 8:
            raise ValueError(f"bucket frames {self.frames} must be 8n+1 (1, 9, 17, ..., 121)")
        if temporal > 1 and (self.frames - 1) % (8 * temporal):
            raise ValueError(
                f"bucket frames {self.frames} must be {8 * temporal}n+1 (e.g. {8 * temporal + 1}, {16 * temporal + 1}) "
                f"with reference temporal scale factor {temporal}: the reference keeps every {ordinal(temporal)} "
                "frame and needs 8n+1 frames itself")
        if self.fps <= 0:
            raise ValueError(f"bucket fps must be positive, got {self.fps}")

    def reference_frames(self, temporal: int = 1) -> int:
        """Frames of a video reference: every `temporal`-th frame of the bucket's (ltx-trainer's
        reference temporal scale factor: the reference at fps / temporal over the same time)."""
        return (self.frames - 1) // temporal + 1

    def label(self) -> str:
        return f"{self.width}x{self.height}x{self.frames}@{self.fps:g}"

    @classmethod
    def from_label(cls, text: str) -> Bucket:
        """Inverse of `label`: "768x448x121@24" -> Bucket(768, 448, 121, 24.0)."""
        match = LABEL_RE.match(text.strip())
        if match is None:
            raise ValueError(f"not a bucket label (WxHxF@fps): {text!r}")
        w, h, f, fps = match.groups()
        return cls(int(w), int(h), int(f), float(fps))

    @property
    def pixels(self) -> int:
        return self.width * self.height

    def frames_from(self, frames: int, fps: float) -> int:
        """How many frames a clip of `frames` at `fps` gives once resampled to this bucket's rate."""
        return frames_at(frames, fps, self.fps)


def frames_at(frames: int, fps: float, rate: float) -> int:
    """How many frames a clip of `frames` at `fps` gives once resampled to `rate` (the fps filter's count; the
    epsilon keeps 29.97 → 30000/1001 rounding from losing a frame)."""
    return int(frames * rate / fps + 1e-6)


def window_count(available: int, frames: int) -> int:
    """Whole windows of `frames` in `available` frames (a long clip cut for `data.whole_clips`), one frame kept
    spare so rounding at the last window's end never leaves it a frame short."""
    return max(1, (available - 1) // frames)


def labels(buckets: Sequence[Bucket]) -> str:
    """All buckets as one metadata string, e.g. "768x448x81@24,448x768x81@24" (one bucket: just its label)."""
    return ",".join(b.label() for b in buckets)


def parse_labels(text: str) -> list[Bucket]:
    """Inverse of `labels`."""
    return [Bucket.from_label(part) for part in text.split(",") if part.strip()]


def aspect_distance(width: int, height: int, bucket: Bucket) -> float:
    """|log(clip aspect) - log(bucket aspect)|: 0 for the same shape, symmetric for portrait and landscape."""
    return abs(math.log(width / height) - math.log(bucket.width / bucket.height))


@dataclass(frozen=True)
class Assignment:
    """The bucket a clip trains in, its position in the run's bucket list, and why, in one sentence."""

    bucket: Bucket
    index: int
    reason: str


def assign_bucket(
    width: int, height: int, frames: int | None, fps: float, buckets: Sequence[Bucket]
) -> Assignment | None:
    """The bucket for a clip of `width` x `height` with `frames` at `fps` (None: a still, any length will do).

    Returns None when the clip is too short for every bucket (the caller says so; nothing is skipped silently).
    """
    if not buckets:
        raise ValueError("no buckets to choose from")
    fillable = [
        (i, b) for i, b in enumerate(buckets) if frames is None or b.frames_from(frames, fps) >= b.frames
    ]
    if not fillable:
        return None

    def key(item: tuple[int, Bucket]) -> tuple[float, int, int, int]:
        i, b = item
        return (round(aspect_distance(width, height, b) / TIE), -b.pixels, -b.frames, i)

    index, bucket = min(fillable, key=key)
    return Assignment(bucket, index, _reason(width, height, bucket, buckets, [b for _, b in fillable]))


def _reason(width: int, height: int, chosen: Bucket, buckets: Sequence[Bucket], fillable: list[Bucket]) -> str:
    if len(buckets) == 1:
        return "the only bucket"
    why = f"closest aspect ratio to {width}x{height} ({width / height:.2f} vs {chosen.width / chosen.height:.2f})"
    distance = aspect_distance(width, height, chosen)
    tied = [b for b in fillable if b != chosen and abs(aspect_distance(width, height, b) - distance) < TIE]
    if tied:
        other = tied[0]
        rule = ("more pixels" if chosen.pixels != other.pixels
                else "more frames" if chosen.frames != other.frames else "listed first")
        why += f", tied with {other.label()}: {rule}"
    too_short = [b.label() for b in buckets if b not in fillable]
    if too_short:
        why += f"; too short for {', '.join(too_short)}"
    return why
