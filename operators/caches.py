"""Training caches on this machine's disk: measured per run, and removed for runs that have ended.

A run's working folder (`training.storage.run_workdir`: copies of its clips, the latent and
text-embedding cache under output/cache, local checkpoint copies) lives on the disk of the worker that
trained it, never in the storage, so every worker measures and cleans its own disk (see
operators.worker_control) and the web process does the same for its machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from pathlib import Path
from typing import TypedDict

from django.conf import settings
from django.db import transaction

from training.models import TrainingRun

# A folder being removed is renamed first, so two processes sharing a disk never both count it.
REMOVING_PREFIX = ".removing-"


class DiskCaches(TypedDict):
    disk: str  # machine and folder: several workers on one disk report the same one
    runs: dict[str, int]  # run id → bytes (string keys: this travels as JSON)


class CleanReport(TypedDict):
    disk: str
    freed_bytes: int
    cleaned: list[int]  # run ids whose cache was removed
    kept: list[int]  # runs with a cache that are queued or running (never touched)


def runs_root() -> Path:
    return Path(settings.DATA_DIR) / "work" / "runs"


def disk_name() -> str:
    return f"{socket.gethostname()}:{runs_root().resolve()}"


def folder_size(path: Path) -> int:
    """Bytes of every file under `path`, without following links (a link to a model is not the run's)."""
    total = 0
    try:
        entries = list(os.scandir(path))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                total += folder_size(Path(entry.path))
            else:
                total += entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue  # removed while we looked
    return total


def measure() -> DiskCaches:
    runs = {str(run_id): folder_size(folder) for run_id, folder in _run_folders()}
    return {"disk": disk_name(), "runs": runs}


def clean_ended_runs() -> CleanReport:
    """Remove the caches of runs that finished, failed or were cancelled, and of runs no longer in the database.

    Queued and running runs keep theirs: each run's row is locked while its folder is set aside, the same
    lock a worker takes to claim a run, so a run requeued at this moment starts with a fresh folder.
    """
    report: CleanReport = {"disk": disk_name(), "freed_bytes": 0, "cleaned": [], "kept": []}
    for run_id, folder in _run_folders():
        set_aside = _set_aside_if_ended(run_id, folder)
        if set_aside is None:
            if folder.exists():
                report["kept"].append(run_id)
            continue
        report["freed_bytes"] += _remove(set_aside)
        report["cleaned"].append(run_id)
    for leftover in runs_root().glob(f"{REMOVING_PREFIX}*"):
        report["freed_bytes"] += _remove(leftover)  # an earlier clean-up that was interrupted
    return report


def _run_folders() -> list[tuple[int, Path]]:
    root = runs_root()
    if not root.is_dir():
        return []
    return sorted((int(p.name), p) for p in root.iterdir() if p.name.isdigit() and p.is_dir())


def _set_aside_if_ended(run_id: int, folder: Path) -> Path | None:
    with transaction.atomic():
        state = TrainingRun.objects.select_for_update().filter(pk=run_id).values_list("state", flat=True).first()
        if state is not None and state not in TrainingRun.FINAL_STATES:
            return None
        target = folder.with_name(f"{REMOVING_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}")
        try:
            folder.rename(target)
        except FileNotFoundError:
            return None  # another process on this disk took it first
    return target


def _remove(path: Path) -> int:
    size = folder_size(path)
    shutil.rmtree(path, ignore_errors=True)
    return size
