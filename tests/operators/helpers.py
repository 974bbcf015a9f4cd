"""Real files for the console tests: cache folders on disk and stored files in the storage."""

from __future__ import annotations

from pathlib import Path

from django.core.files.base import ContentFile
from django.db.models.fields.files import FieldFile

from training.storage import run_workdir


def make_cache(run_id: int, size: int) -> Path:
    """A run's working folder as a worker leaves it: clip copies and a latent cache, `size` bytes in all."""
    folder = run_workdir(run_id)
    (folder / "inputs").mkdir(parents=True, exist_ok=True)
    (folder / "output" / "cache").mkdir(parents=True, exist_ok=True)
    (folder / "inputs" / "1_target.mp4").write_bytes(b"v" * (size // 2))
    (folder / "output" / "cache" / "pair_0000.safetensors").write_bytes(b"c" * (size - size // 2))
    return folder


def store(field: FieldFile, name: str, size: int) -> None:
    field.save(name, ContentFile(b"x" * size), save=False)
