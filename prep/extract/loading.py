"""What the depth model and the captioner share: checking a model folder, picking a device, loading once.

Model folders are made by `save_pretrained` on a machine with internet and copied to the server; nothing here
ever downloads.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Generic, TypeVar

from prep.extract.base import ExtractionError

if TYPE_CHECKING:  # torch is imported where it is used: the web process never needs it
    import torch

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")

T = TypeVar("T")


def model_folder_problem(folder: Path, label: str, model_types: Sequence[str], example: str,
                         required: Sequence[tuple[Sequence[str], str]]) -> str | None:
    """Why `folder` cannot be the `label` model, in plain words, or None. Reads config.json, loads no weights.

    `required` lists (alternative file names, what to tell when none of them is there).
    """
    if not folder.is_dir():
        return f"The {label} folder {folder} does not exist on this server."
    config = folder / "config.json"
    if not config.is_file():
        return f"The {label} folder {folder} has no config.json; save the model there with save_pretrained."
    try:
        model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError, AttributeError):
        return f"The config.json in the {label} folder {folder} could not be read."
    if model_type not in model_types:
        return (f"The folder {folder} holds a '{model_type}' model, which is not a {label} this server can use "
                f"({example}).")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        return f"The {label} folder {folder} has no weights (model.safetensors)."
    for names, missing in required:
        if not any((folder / name).is_file() for name in names):
            return f"The {label} folder {folder} {missing}"
    return None


def resolve_device(device: str) -> torch.device:
    """"cpu", "cuda", "cuda:N", or "auto" (the GPU when there is one) as a torch device."""
    # torch: loaded only by a worker that runs a model, not by the checks the web process makes
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ExtractionError(f"'{device}' is not a device this server knows.") from err


def short_reason(err: BaseException) -> str:
    """An exception's message on one line, short enough to show in a sentence."""
    text = " ".join(str(err).split())
    return text[:200] or type(err).__name__


class FolderCache(Generic[T]):
    """One loaded model per (folder, device), so a worker loads it once; reloaded when the folder's config.json
    changes (an operator replaced the model). The lock keeps two threads from loading the same model twice."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, folder: Path, device: torch.device, load: Callable[[Path, torch.device], T]) -> T:
        folder = folder.resolve()
        stamp = (folder / "config.json").stat().st_mtime
        key = (str(folder), str(device))
        with self._lock:
            cached = self._items.get(key)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            item = load(folder, device)
            self._items[key] = (stamp, item)
            return item

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
