"""Depth control videos: Depth Anything V2 on every frame, one brightness range per clip, smoothed over time.

The model is a local folder (saved with `save_pretrained`) that an operator names in DEPTH_MODEL_PATH. Output
frames are grayscale with near = bright, at the source's exact frame count, frame rate and size.

Long clips are handled in two passes over a temporary file next to the output: pass one infers every frame and
keeps its low-resolution depth on disk (float16, rescaled per frame so float16 never loses tiny or huge
values), plus a sample of pixels for the clip's percentiles; pass two smooths over time, normalises with the
one clip-wide range, resizes to the source size and encodes. Memory stays at a few frames whatever the length.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from pydantic import Field, model_validator

from prep.extract.base import ExtractionError, ExtractionReport, ProgressFn
from prep.extract.loading import FolderCache, model_folder_problem, resolve_device, short_reason
from prep.extract.settings import ExtractionSettings, Number, WholeNumber, rule_broken
from prep.extract.video import ClipFormat, FrameWriter, clip_format, read_frames

if TYPE_CHECKING:  # torch is imported where it is used: the web process never needs it
    import torch

DEPTH_MODEL_TYPE = "depth_anything"
PROCESSOR_FILE = "preprocessor_config.json"
NOT_CONFIGURED = (
    "Depth maps cannot be made on this server yet: an operator has to set up a depth model (DEPTH_MODEL_PATH). "
    "You can upload depth videos you made elsewhere instead."
)
# Pixels per frame kept for the clip's percentiles, spread over all frames so long clips stay within ~8 MB.
PERCENTILE_SAMPLES = 2_000_000
# A frame whose own spread is below this share of the clip's range shows no depth differences.
FLAT_FRAME_SHARE = 0.01


# --- The model folder ------------------------------------------------------------------------------------------


def depth_model_problem(path: str | Path | None) -> str | None:
    """Why the folder at `path` cannot serve as the depth model, in plain words; None when it looks usable.

    Cheap: reads config.json and lists files, never loads weights.
    """
    if path is None or str(path).strip() == "":
        return NOT_CONFIGURED
    return model_folder_problem(
        Path(path), "depth model", (DEPTH_MODEL_TYPE,), "a Depth Anything model such as "
        "depth-anything/Depth-Anything-V2-Small-hf",
        [((PROCESSOR_FILE,), f"has no {PROCESSOR_FILE}; save the image processor there too "
          "(AutoImageProcessor.save_pretrained).")])


@dataclass
class DepthModel:
    """A loaded depth model with its image processor; `predict` turns RGB frames into disparity (near = larger)."""

    path: Path
    device: torch.device
    model: Any
    processor: Any
    metric: bool

    def predict(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Frames (H, W, 3) uint8 RGB → float32 disparity (B, h, w) at the model's working resolution.

        Relative Depth Anything models already give disparity; metric ones give distance, inverted here so
        that near is always the larger value.
        """
        # torch: loaded only to run the model; the web process imports this module for its checks
        import torch

        inputs = self.processor(images=list(frames), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self.device, dtype=self.model.dtype)
        try:
            with torch.inference_mode():
                depth = self.model(pixel_values=pixels).predicted_depth
        except RuntimeError as err:  # out of memory above all: a smaller batch size helps
            raise ExtractionError(f"The depth model failed on this clip ({short_reason(err)}); a smaller batch "
                                  "size may help.") from err
        out = depth.float().cpu().numpy()
        if self.metric:
            out = 1.0 / np.maximum(out, 1e-6)
        return out


_CACHE: FolderCache[DepthModel] = FolderCache()


def load_depth_model(path: str | Path, device: str = "cpu") -> DepthModel:
    """The depth model in folder `path` on `device` ("cpu", "cuda", "cuda:N" or "auto"), loaded once per worker.

    A broken folder raises ExtractionError with a plain message.
    """
    problem = depth_model_problem(path)
    if problem is not None:
        raise ExtractionError(problem)
    return _CACHE.get(Path(path), resolve_device(device), _load_uncached)


def _load_uncached(folder: Path, device: torch.device) -> DepthModel:
    # torch/transformers: loaded only to run the model; the web process imports this module for its checks
    import torch
    from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation

    # Half precision halves GPU memory and time with no visible change in 8-bit output; CPUs gain nothing.
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    # Anything can go wrong in a copied folder (truncated safetensors, hand-edited JSON, a newer format): every
    # failure gets the same plain sentence, with the library's reason for the operator.
    try:
        model: Any = DepthAnythingForDepthEstimation.from_pretrained(folder, dtype=dtype)
        model = model.to(device).eval()
        processor = AutoImageProcessor.from_pretrained(folder)
    except Exception as err:
        raise ExtractionError(f"The depth model in {folder} could not be loaded ({short_reason(err)}).") from err
    metric = getattr(model.config, "depth_estimation_type", "relative") == "metric"
    return DepthModel(folder, device, model, processor, metric)


# --- Settings --------------------------------------------------------------------------------------------------


class DepthSettings(ExtractionSettings):
    """How a depth video is made (read with `from_dict`, stored with `as_dict`). Every field has a default that
    suits ordinary footage."""

    kind = "depth"

    smoothing: Number = Field(
        default=1.0, ge=0.0, le=5.0, title="The temporal smoothing",
        description="Temporal smoothing strength: the Gaussian's spread in frames (0 = off). Higher removes more "
        "flicker but smears fast motion.")
    batch_size: WholeNumber = Field(
        default=8, ge=1, le=64, title="The batch size",
        description="Frames inferred at once; larger is faster on a GPU and uses more memory.")
    near_percentile: Number = Field(
        default=98.0, ge=50.0, le=100.0, title="The near percentile",
        description="Depth at or beyond this percentile of the whole clip is pure white (nearest).")
    far_percentile: Number = Field(
        default=2.0, ge=0.0, le=50.0, title="The far percentile",
        description="Depth at or below this percentile of the whole clip is pure black (farthest); below "
        "near_percentile.")

    @model_validator(mode="after")
    def _far_below_near(self) -> DepthSettings:
        if self.far_percentile >= self.near_percentile:
            raise rule_broken("The far percentile must be below the near percentile.")
        return self


# --- Clip-wide normalisation and temporal smoothing --------------------------------------------------------------


def depth_range(samples: np.ndarray, far_percentile: float, near_percentile: float) -> tuple[float, float]:
    """The (far, near) disparity values of the whole clip from pixel `samples` (any shape) of all its frames.

    Percentiles ignore a few extreme pixels; when they collapse (mostly one depth, e.g. sky) the full range
    is used instead, so a small near object still shows.
    """
    values = samples[np.isfinite(samples)]
    if values.size == 0:
        return 0.0, 0.0
    far, near = (float(v) for v in np.percentile(values, [far_percentile, near_percentile]))
    if _flat(far, near):
        far, near = float(values.min()), float(values.max())
    return far, near


def _flat(far: float, near: float) -> bool:
    return near - far <= 1e-6 * max(abs(far), abs(near))


def normalise(depth: np.ndarray, far: float, near: float) -> np.ndarray:
    """Disparity of any shape → float32 in [0, 1] with the clip's one range: `far` → 0 (black), `near` → 1."""
    scaled = (depth.astype(np.float32) - np.float32(far)) / np.float32(near - far)
    return np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0)


def temporal_kernel(smoothing: float) -> np.ndarray:
    """Gaussian weights (2r+1,) over neighbouring frames, r = ceil(3 sigma); [1.0] when smoothing is off."""
    if smoothing <= 0:
        return np.ones(1, np.float64)
    radius = int(np.ceil(3 * smoothing))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    return np.exp(-0.5 * (offsets / smoothing) ** 2)


def smoothed_frames(depth: np.ndarray | Sequence[np.ndarray], smoothing: float) -> Iterator[np.ndarray]:
    """Each frame (h, w) of `depth` (T frames of (h, w)) averaged with its neighbours in time, in order.

    Centred (not a running average) so nothing lags behind the picture; at the clip's ends the missing
    neighbours' weights are dropped and the rest renormalised, so the first and last frames keep their level.
    """
    kernel = temporal_kernel(smoothing)
    radius = len(kernel) // 2
    count = len(depth)
    for t in range(count):
        lo, hi = max(0, t - radius), min(count, t + radius + 1)
        weights = kernel[lo - t + radius:hi - t + radius]
        total = np.zeros(depth[t].shape, np.float64)
        for weight, index in zip(weights, range(lo, hi), strict=True):
            total += weight * depth[index]
        yield (total / weights.sum()).astype(np.float32)


class _DepthStore(Sequence[np.ndarray]):
    """Per-frame depth (h, w) appended to a float16 file; each frame is stored as 0..1 with its own offset and
    scale in float64, so float16's range never clips or flattens what the model returned."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._shape: tuple[int, int] | None = None
        self._offsets: list[float] = []
        self.spreads: list[float] = []
        """Each frame's own max - min."""
        self._frames: np.ndarray | None = None

    def append(self, depth: np.ndarray) -> None:
        if self._shape is None:
            self._shape = (int(depth.shape[0]), int(depth.shape[1]))
        if depth.shape != self._shape:
            raise ExtractionError("The depth model returned frames of different sizes within one clip.")
        low, high = float(depth.min()), float(depth.max())
        scale = high - low if high > low else 1.0
        self._file.write(((depth - low) / scale).astype(np.float16).tobytes())
        self._offsets.append(low)
        self.spreads.append(high - low)

    def close(self) -> None:
        """Stop writing and map the file for reading."""
        self._file.close()
        if self._shape is not None:
            self._frames = np.memmap(self.path, np.float16, "r", shape=(len(self._offsets), *self._shape))

    def release(self) -> None:
        """Unmap the file so its folder can be removed."""
        self._file.close()
        self._frames = None

    def __len__(self) -> int:
        return len(self._offsets)

    def __getitem__(self, index: Any) -> Any:
        if self._frames is None:
            raise IndexError("the depth store is empty or still being written")
        scale = self.spreads[index] or 1.0
        return self._frames[index].astype(np.float32) * np.float32(scale) + np.float32(self._offsets[index])


# --- Extraction ------------------------------------------------------------------------------------------------


def extract_depth(src: str | Path, dst: str | Path, settings: DepthSettings, model: DepthModel,
                  progress: ProgressFn | None = None) -> ExtractionReport:
    """Write the depth video of `src` to `dst` (mp4): grayscale, near = bright, same frames, fps and size.

    Raises ExtractionError when the clip has no frames or the model sees no depth differences at all.
    `progress(done, total)` is called after each inferred batch (inference is the slow part).
    """
    started = time.monotonic()
    source, target = Path(src), Path(dst)
    fmt = clip_format(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".depth-") as scratch:
        store = _DepthStore(Path(scratch) / "depth.f16")
        try:
            samples = _infer_clip(source, fmt, settings, model, store, progress)
            store.close()
            far, near = _clip_range(source, store, samples, settings)
            with FrameWriter(target, fmt) as writer:
                for depth in smoothed_frames(store, settings.smoothing):
                    writer.write(_to_rgb(normalise(depth, far, near), fmt.width, fmt.height))
        finally:
            store.release()
    flat_frames = sum(spread < FLAT_FRAME_SHARE * (near - far) for spread in store.spreads)
    return _report(fmt, len(store), flat_frames, settings, time.monotonic() - started)


def _clip_range(source: Path, store: _DepthStore, samples: np.ndarray, settings: DepthSettings) -> tuple[float, float]:
    """The clip's (far, near); no frames or no depth differences at all is an ExtractionError."""
    if len(store) == 0:
        raise ExtractionError(f"{source.name} has no frames to make a depth video from.")
    far, near = depth_range(samples, settings.far_percentile, settings.near_percentile)
    if _flat(far, near):
        raise ExtractionError("The depth model saw no depth differences anywhere in this clip, so its depth video "
                              "would be one flat colour. Try another clip, or upload a depth video instead.")
    return far, near


def _infer_clip(source: Path, fmt: ClipFormat, settings: DepthSettings, model: DepthModel, store: _DepthStore,
                progress: ProgressFn | None) -> np.ndarray:
    """Infer every frame into `store`; returns the pixel samples (N,) for the clip's percentiles."""
    per_frame = int(np.clip(PERCENTILE_SAMPLES // max(fmt.frames, 1), 256, 16384))
    samples: list[np.ndarray] = []
    batch: list[np.ndarray] = []
    done = 0
    for frame in read_frames(source, fmt):
        batch.append(frame)
        if len(batch) == settings.batch_size:
            done += _infer_batch(batch, model, store, samples, per_frame)
            batch = []
            if progress is not None:
                progress(done, max(fmt.frames, done))
    if batch:
        done += _infer_batch(batch, model, store, samples, per_frame)
        if progress is not None:
            progress(done, max(fmt.frames, done))
    return np.concatenate(samples) if samples else np.zeros(0, np.float32)


def _infer_batch(batch: list[np.ndarray], model: DepthModel, store: _DepthStore, samples: list[np.ndarray],
                 per_frame: int) -> int:
    for depth in model.predict(batch):
        store.append(depth)
        flat = depth.ravel()
        samples.append(flat[:: max(1, flat.size // per_frame)].astype(np.float32))
    return len(batch)


def _to_rgb(depth: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised depth (h, w) in [0, 1] → (height, width, 3) uint8 gray at the source size."""
    resized = cv2.resize(depth, (width, height), interpolation=cv2.INTER_LINEAR)
    gray = np.rint(np.clip(resized, 0.0, 1.0) * 255.0).astype(np.uint8)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def _report(fmt: ClipFormat, frames: int, flat_frames: int, settings: DepthSettings,
            seconds: float) -> ExtractionReport:
    notes = ["Near is bright, far is dark, with one brightness range for the whole clip."]
    if settings.smoothing > 0:
        notes.append(f"Smoothed over time (strength {settings.smoothing:g} frames) to avoid flicker.")
    if flat_frames:
        notes.append(f"{flat_frames} of {frames} frames came out flat (no depth differences in them).")
    return ExtractionReport(method="depth", frames=frames, fps=fmt.fps, width=fmt.width, height=fmt.height,
                            seconds=round(seconds, 2), empty_frames=flat_frames, notes=notes)
