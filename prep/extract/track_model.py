"""An optional point-tracking model (CoTracker, say) that motion tracks follow their points with, instead of optical
flow.

An operator names a file in TRACK_MODEL_PATH: a model saved whole, as an exported program (`torch.export.save`, a
.pt2 file) or as TorchScript (`torch.jit.save`), and called the way CoTracker's predictor is,
`tracks, visibility = model(video, queries)`, with

- video: (1, T, 3, H, W) float32, RGB values 0 to 255;
- queries: (1, N, 3) float32, each (frame, x, y) in pixels of the video (always frame 0 here);
- tracks: (1, T, N, 2), each point's x and y on every frame, in the same pixels;
- visibility: (1, T, N) (or (1, T, N, 1)), True (or a probability above one half) where the point is seen.

A whole saved model, because CoTracker is not a dependency of this app and nothing can be downloaded on its
servers: the file holds the network and its weights, and torch alone runs it. torch.export is torch's way forward
(torch.jit is deprecated); TorchScript files still load while torch does. docs/preparation.md shows how to make one.

Which points are followed, which are dropped, which are kept and how they are drawn stay `prep.extract.tracks`'s;
the model only moves the points from frame to frame (`tracks.ModelFollower`).
"""

from __future__ import annotations

import logging
import threading
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from prep.extract.base import ExtractionError
from prep.extract.loading import resolve_device, short_reason

if TYPE_CHECKING:  # torch is imported where the model is loaded: the web process only checks the file
    import torch

log = logging.getLogger(__name__)

# What the creator is told when the model breaks on a worker; the log says why, for an operator.
COULD_NOT_LOAD = ("The point-tracking model this server follows motion with could not be loaded. An operator can "
                  "find the reason in the worker's log.")
FAILED_ON_CLIP = ("The point-tracking model this server follows motion with failed on this clip. An operator can "
                  "find the reason in the worker's log.")
HOW_TO_SAVE = ("save the model itself, called as model(video, queries), with torch.export.save (a .pt2 file) or "
               "torch.jit.save (TorchScript); a checkpoint or state dict holds weights only")


def track_model_problem(path: str | Path | None) -> str | None:
    """Why the file at `path` cannot be the point-tracking model, in plain words for an operator; None when it looks
    usable, and when no model is set (motion tracks then follow points with optical flow).

    Cheap: reads the file's table of contents, never the weights, and needs no torch.
    """
    if path is None or str(path).strip() == "":
        return None
    file = Path(path)
    if not file.exists():
        return f"The point-tracking model {file} (TRACK_MODEL_PATH) does not exist on this server."
    if not file.is_file():
        return f"TRACK_MODEL_PATH names the folder {file}; it names one saved model file: {HOW_TO_SAVE}."
    if saved_format(file) is None:
        return f"The point-tracking model {file} (TRACK_MODEL_PATH) is not a saved model: {HOW_TO_SAVE}."
    return None


def saved_format(file: Path) -> str | None:
    """"export" (torch.export.save), "torchscript" (torch.jit.save), or None for any other file (a checkpoint or state
    dict saved with torch.save, or no torch file at all), told from the archive's table of contents."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return None
    # torch.export.save describes the graph in <name>/models/*.json; torch.jit.save writes the module's compiled code
    # under <name>/code/ beside its pickled constants; a torch.save checkpoint has only data.pkl and tensors.
    if any(name.endswith("/archive_format") for name in names) and any("/models/" in name for name in names):
        return "export"
    if any("/code/" in name for name in names) and any(name.endswith("/constants.pkl") for name in names):
        return "torchscript"
    return None


@dataclass
class TrackModel:
    """A loaded point-tracking model; `follow` moves points through a few frames."""

    path: Path
    device: torch.device
    module: Any

    def follow(self, frames: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Follow `points` (N, 2), x and y in pixels of the first of `frames` ((T, H, W, 3) uint8 RGB), through all
        of them: (positions (T, N, 2) in the same pixels, shown (T, N) bool)."""
        # torch: loaded on the workers that run the model, never by the web process
        import torch

        count, number = len(frames), len(points)
        video = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device).permute(0, 3, 1, 2)[None].float()
        queries = torch.zeros((1, number, 3), dtype=torch.float32)
        queries[0, :, 1:] = torch.from_numpy(np.asarray(points, np.float32))
        try:
            with torch.inference_mode():
                answer = self.module(video, queries.to(self.device))
            if not isinstance(answer, tuple | list) or len(answer) != 2:
                raise ValueError(f"it returned {type(answer).__name__}, not (tracks, visibility)")
            # as floats: numpy has no bfloat16, and True / False become 1 / 0, read like probabilities
            tracks, visible = (part.detach().float().cpu().numpy() for part in answer)
            return _read_answer(tracks, visible, count, number)
        except Exception as err:  # whatever the operator's module raises (an exported one's guards raise their own)
            log.error("The point-tracking model %s failed on %d frames of %dx%d with %d points: %s", self.path, count,
                      frames.shape[2], frames.shape[1], number, short_reason(err))
            raise ExtractionError(FAILED_ON_CLIP) from err


def _read_answer(tracks: np.ndarray, visible: np.ndarray, count: int, number: int) -> tuple[np.ndarray, np.ndarray]:
    """The module's tracks and visibility as (positions (T, N, 2) float64, shown (T, N) bool); ValueError when they
    are not shaped as the calling convention says. A position that is not a number is not shown."""
    if visible.ndim == 4 and visible.shape[-1] == 1:
        visible = visible[..., 0]
    if tracks.shape != (1, count, number, 2) or visible.shape != (1, count, number):
        raise ValueError(f"it returned tracks of shape {tracks.shape} and visibility of shape {visible.shape}, not "
                         f"(1, {count}, {number}, 2) and (1, {count}, {number})")
    positions = tracks[0].astype(np.float64)
    return positions, (visible[0] > 0.5) & np.isfinite(positions).all(axis=2)


_CACHE: dict[tuple[str, str], tuple[int, TrackModel]] = {}  # (file, device): (the file's mtime, its model)
_LOCK = threading.Lock()


def load_track_model(path: str | Path, device: str = "cpu") -> TrackModel:
    """The point-tracking model in the file `path` on `device` ("cpu", "cuda", "cuda:N" or "auto"), loaded once per
    worker (again when the file changes). A file that cannot be used raises `ExtractionError` in plain words."""
    problem = track_model_problem(path)
    if problem is not None:
        log.error("%s", problem)
        raise ExtractionError(COULD_NOT_LOAD)
    file = Path(path).resolve()
    where = resolve_device(device)
    key, stamp = (str(file), str(where)), file.stat().st_mtime_ns
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is None or cached[0] != stamp:  # an operator replaced the file: the old model is let go
            cached = _CACHE[key] = (stamp, TrackModel(file, where, _load(file, where)))
        return cached[1]


def _load(file: Path, device: torch.device) -> Any:
    # torch: loaded on the workers that run the model, never by the web process
    import torch

    # Anything can be wrong in a copied file (truncated, saved by a newer torch, not a module after all): the creator
    # gets one plain sentence, the log the reason.
    try:
        if saved_format(file) == "torchscript":
            return torch.jit.load(str(file), map_location=device).eval()
        # torch.export: loaded on the workers that run the model, never by the web process
        from torch.export.passes import move_to_device_pass

        program = torch.export.load(file)
        # An exported program keeps the mode it was exported in (eval, for inference): it has no eval() to call.
        return (program if device.type == "cpu" else move_to_device_pass(program, device)).module()
    except Exception as err:
        log.error("The point-tracking model %s could not be loaded: %s", file, short_reason(err))
        raise ExtractionError(COULD_NOT_LOAD) from err
