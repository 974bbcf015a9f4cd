"""Canny edge references: white edges on black, frame for frame, at the source clip's fps and size.

A light Gaussian blur comes first so sensor noise and compression blocks do not turn into edges; the edges
are then thickened by a dilation so their width looks the same on every frame and at every resolution.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
from pydantic import Field, model_validator

from prep.extract.base import ExtractionError, ExtractionReport, ProgressFn
from prep.extract.settings import ExtractionSettings, WholeNumber, rule_broken
from prep.extract.video import FrameWriter, clip_format, read_frames

# With thickness 0 ("automatic") edges get one pixel of width per this many pixels of the frame's short side,
# so a 1080p clip and its 540p copy give edge maps that look alike once both are shown at the same size.
_AUTO_THICKNESS_PER_PIXELS = 480


class CannySettings(ExtractionSettings):
    """How edges are found and drawn (read with `from_dict`, stored with `as_dict`)."""

    kind = "edge"

    low_threshold: WholeNumber = Field(
        default=100, ge=1, le=500, title="The low edge threshold",
        description="Canny's lower hysteresis threshold on the gradient: weaker edges are dropped (higher = fewer "
        "edges); below high_threshold.")
    high_threshold: WholeNumber = Field(
        default=200, ge=1, le=500, title="The high edge threshold",
        description="Canny's upper hysteresis threshold on the gradient: stronger edges are always kept (higher = "
        "fewer edges).")
    blur: WholeNumber = Field(
        default=3, ge=0, le=31, title="The blur size",
        description="Odd Gaussian kernel size in pixels applied before detection; 0 turns the blur off.")
    thickness: WholeNumber = Field(
        default=0, ge=0, le=15, title="The line thickness",
        description="Edge width in pixels; 0 picks it from the frame size (see `line_width`).")

    @model_validator(mode="after")
    def _thresholds_in_order_and_odd_blur(self) -> CannySettings:
        if self.low_threshold >= self.high_threshold:
            raise rule_broken("The low edge threshold must be below the high one.")
        if self.blur % 2 == 0 and self.blur:
            raise rule_broken(f"The blur size must be an odd number, or 0 for no blur (it is {self.blur}).")
        return self

    def line_width(self, width: int, height: int) -> int:
        """Edge width in pixels for a frame of this size (the setting, or the automatic choice for 0)."""
        if self.thickness:
            return self.thickness
        return max(1, round(min(width, height) / _AUTO_THICKNESS_PER_PIXELS))


def canny_frame(frame: np.ndarray, settings: CannySettings) -> np.ndarray:
    """Edges of one frame: (H, W, 3) uint8 RGB in, (H, W, 3) uint8 out, 255 on edges and 0 elsewhere."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    if settings.blur:
        # sigma 0: OpenCV derives it from the kernel size, so the blur depends on one setting only.
        gray = cv2.GaussianBlur(gray, (settings.blur, settings.blur), 0)
    edges = cv2.Canny(gray, settings.low_threshold, settings.high_threshold)
    width = settings.line_width(frame.shape[1], frame.shape[0])
    if width > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (width, width))
        edges = cv2.dilate(edges, kernel)
    return np.repeat(edges[:, :, None], 3, axis=2)


def extract_canny(src: Path, dst: Path, settings: CannySettings, progress: ProgressFn | None = None
                  ) -> ExtractionReport:
    """Write the edge video of `src` to `dst` (H.264 mp4): same frame count, exact fps and size as `src`.

    Deterministic: the same clip and settings give the same frames. Raises `ExtractionError` when `src`
    cannot be read or `dst` cannot be written.
    """
    started = time.monotonic()
    fmt = clip_format(src)
    with FrameWriter(dst, fmt) as writer:
        for frame in read_frames(src, fmt):
            writer.write(canny_frame(frame, settings))
            if progress is not None:
                progress(writer.count, max(fmt.frames, writer.count))
    if writer.count == 0:
        dst.unlink(missing_ok=True)
        raise ExtractionError(f"{src.name} has no frames that could be decoded.")
    return ExtractionReport(method="canny", frames=writer.count, fps=fmt.fps, width=fmt.width, height=fmt.height,
                            seconds=round(time.monotonic() - started, 2))
