"""Attention masks for the IC-LoRA: where and when the reference guides the result.

Every function returns a pixel-space tensor of shape (1, 1, F, H, W) with values in [0, 1], which the
pipeline receives as `conditioning_attention_mask` and multiplies by the attention strength. F, H and W are
the reference video's frames and pixel size (the pipeline downsamples the mask to its latent grid).

torch and numpy are imported inside the functions that build masks: the web process only checks settings and
uploads (`Region.checked`, `check_file`) and must not load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ffmpeg

if TYPE_CHECKING:
    import numpy as np
    import torch

MASK_PRESETS = {
    "whole": "Whole frame, whole clip",
    "fade_in": "Fade in over the first frames",
    "region": "Only a region of the frame",
    "upload": "My own mask (image or video)",
}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"}
# Stills a reference can be (identity adapters): the images above, and HEIC (iPhones) and AVIF, converted to JPEG on
# upload.
STILL_SUFFIXES = IMAGE_SUFFIXES | {".heic", ".heif", ".avif"}


class MaskError(ValueError):
    """A mask that cannot be built, with the reason in plain words."""


@dataclass(frozen=True)
class Region:
    """A rectangle in fractions of the frame (0 = left/top, 1 = right/bottom)."""

    left: float = 0.25
    top: float = 0.25
    right: float = 0.75
    bottom: float = 0.75

    def checked(self) -> Region:
        for name in ("left", "top", "right", "bottom"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise MaskError(f"The region's {name} edge must be between 0% and 100%.")
        if self.right <= self.left or self.bottom <= self.top:
            raise MaskError("The region is empty: its right edge must be right of its left edge, bottom below top.")
        return self


def _check_size(frames: int, height: int, width: int) -> None:
    if frames < 1 or height < 1 or width < 1:
        raise MaskError(f"A mask needs at least one frame and one pixel (got {frames}×{height}×{width}).")


def whole_frame(frames: int, height: int, width: int, value: float = 1.0) -> torch.Tensor:
    """The same weight everywhere (1 = the reference guides the whole clip, as in training)."""
    # torch: loaded on the GPU worker only, not by the web process (which imports this module)
    import torch

    _check_size(frames, height, width)
    if not 0.0 <= value <= 1.0:
        raise MaskError("A mask value must be between 0 and 1.")
    return torch.full((1, 1, frames, height, width), float(value))


def fade_in(frames: int, height: int, width: int, over: int) -> torch.Tensor:
    """0 on the first frame, rising linearly to 1 at frame `over`, then 1: control fades in over `over` frames."""
    # torch: loaded on the GPU worker only, not by the web process (which imports this module)
    import torch

    _check_size(frames, height, width)
    if over < 1:
        raise MaskError("Fade in over at least 1 frame.")
    ramp = torch.clamp(torch.arange(frames, dtype=torch.float32) / over, 0.0, 1.0)
    return ramp.view(1, 1, frames, 1, 1).expand(1, 1, frames, height, width).contiguous()


def region(frames: int, height: int, width: int, box: Region, invert: bool = False) -> torch.Tensor:
    """1 inside the rectangle (0 outside) on every frame; `invert` swaps them (everything but the region)."""
    # torch: loaded on the GPU worker only, not by the web process (which imports this module)
    import torch

    _check_size(frames, height, width)
    box = box.checked()
    mask = torch.zeros((height, width))
    top, bottom = round(box.top * height), max(round(box.bottom * height), round(box.top * height) + 1)
    left, right = round(box.left * width), max(round(box.right * width), round(box.left * width) + 1)
    mask[top:bottom, left:right] = 1.0
    if invert:
        mask = 1.0 - mask
    return mask.view(1, 1, 1, height, width).expand(1, 1, frames, height, width).contiguous()


def _read_gray(path: Path, width: int, height: int, fps: float | None) -> tuple[bytes, int]:
    """All frames of an image or video as raw grayscale bytes stretched to the size, and how many frames."""
    stream = ffmpeg.input(str(path)).video
    if fps is not None:
        stream = stream.filter("fps", fps=fps)
    stream = stream.filter("scale", width, height, flags="area").output("pipe:", format="rawvideo", pix_fmt="gray")
    try:
        out, _ = stream.run(capture_stdout=True, capture_stderr=True)
    except ffmpeg.Error as err:
        lines = (err.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        raise MaskError(f"{path.name}: not a readable image or video ({lines[-1] if lines else 'ffmpeg failed'}).")\
            from err
    count = len(out) // (width * height)
    if count == 0:
        raise MaskError(f"{path.name}: contains no frames.")
    return out, count


def _decode_gray(path: Path, width: int, height: int, fps: float | None) -> np.ndarray:
    """All frames of an image or video as grayscale uint8 (n, height, width), stretched to the size."""
    # numpy: loaded on the GPU worker only, not by the web process (which imports this module)
    import numpy as np

    out, count = _read_gray(path, width, height, fps)
    return np.frombuffer(out[: count * width * height], np.uint8).reshape(count, height, width)


def _mask_file(path: str | Path, frames: int, height: int, width: int) -> Path:
    _check_size(frames, height, width)
    path = Path(path)
    if not path.is_file():
        raise MaskError(f"{path.name}: file not found.")
    return path


def check_file(path: str | Path, frames: int, height: int, width: int, fps: float = 24.0) -> None:
    """Raise the MaskError `from_file` would raise for this file, without torch or numpy (for the web process)."""
    path = _mask_file(path, frames, height, width)
    _read_gray(path, width, height, None if path.suffix.lower() in IMAGE_SUFFIXES else fps)


def from_file(path: str | Path, frames: int, height: int, width: int, fps: float = 24.0) -> torch.Tensor:
    """A mask from an uploaded grayscale image (white = follow the reference, black = ignore it) or video.

    An image applies to every frame. A video is resampled to `fps`; if it is shorter than the clip its last
    frame is held, if longer it is cut. Colour files are converted to grayscale.
    """
    # numpy/torch: loaded on the GPU worker only, not by the web process (which imports this module)
    import numpy as np
    import torch

    path = _mask_file(path, frames, height, width)
    is_image = path.suffix.lower() in IMAGE_SUFFIXES
    gray = _decode_gray(path, width, height, None if is_image else fps)
    if is_image:
        gray = gray[:1]
    if len(gray) < frames:
        gray = np.concatenate([gray, np.repeat(gray[-1:], frames - len(gray), axis=0)])
    values = torch.from_numpy(gray[:frames].astype(np.float32) / 255.0)
    return values.view(1, 1, frames, height, width).contiguous()


def build(settings: dict[str, Any], frames: int, height: int, width: int, upload: str | Path | None = None,
          fps: float = 24.0) -> torch.Tensor | None:
    """The mask for a generation's saved settings, or None for "whole frame" (no mask needed)."""
    preset = settings.get("mask_preset") or "whole"
    if preset == "whole":
        return None
    if preset == "fade_in":
        return fade_in(frames, height, width, int(settings.get("mask_fade_frames") or 8))
    if preset == "region":
        box = Region(*(float(settings.get(f"mask_{edge}", default)) for edge, default in
                       (("left", 0.25), ("top", 0.25), ("right", 0.75), ("bottom", 0.75))))
        return region(frames, height, width, box, invert=bool(settings.get("mask_invert")))
    if preset == "upload":
        if upload is None:
            raise MaskError("Choose a mask image or video to upload, or pick another mask.")
        return from_file(upload, frames, height, width, fps)
    raise MaskError(f"Unknown mask “{preset}”.")
