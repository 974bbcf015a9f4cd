"""Runs one TrainingRun on this worker: claim it, fetch its inputs, train with live reporting, store
the adapter, and end in a final state with a reason a creator understands.

Called by the `train_run` task. Safe to call twice for the same run: a run that is finished, or held
by another live worker, is left alone.
"""

from __future__ import annotations

import copy
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from training.models import TrainingRun
from training.models_config import ImproperlyConfiguredModel, training_model
from training.reporting import RunHeartbeat, RunReporter
from training.runs import State, transition
from training.storage import (
    DatasetNotReady,
    fetch_stored,
    manifest_rows_of,
    materialize_dataset,
    restore_latest_checkpoint,
    run_workdir,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def execute(run_id: int, worker: str) -> None:
    run = claim(run_id, worker)
    if run is None:
        return
    try:
        with RunHeartbeat(run.pk):
            result = _train(run)
            run.refresh_from_db()
            if result.status == "cancelled":
                transition(run, State.CANCELLED, "Stopped at your request. The checkpoints saved so far are kept.")
                return
            transition(run, State.FINISHING, "Saving the adapter.")
            adapter = _store_adapter(run, result.adapter_path)
            transition(run, State.SUCCEEDED, f"Your adapter “{adapter.name}” is ready.", step=result.steps)
    except Exception as error:
        _fail(run, error)
    finally:
        from training.notify import notify_run_ended

        notify_run_ended(run.pk)


def claim(run_id: int, worker: str) -> TrainingRun | None:
    """Take the run for this worker, or return None when there is nothing to do."""
    stale_before = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.state == State.DRAFT or run.state in TrainingRun.FINAL_STATES:
            return None
        held_elsewhere = run.state != State.QUEUED and run.worker != worker
        if held_elsewhere and run.heartbeat_at and run.heartbeat_at >= stale_before:
            return None  # another live worker is on it; this is a duplicate delivery
        if run.cancel_requested:
            transition(run, State.CANCELLED, "Cancelled before training started.")
            return None
        if run.attempts >= MAX_ATTEMPTS:
            transition(run, State.FAILED, f"Stopped after {run.attempts} attempts: the worker kept stopping.",
                       error_kind="worker_lost", error_message="The worker running this training stopped "
                       f"{run.attempts} times. An operator can check the GPU machines.")
            return None
        reason = "Preparing your clips." if run.attempts == 0 else "Resuming from the last checkpoint."
        return transition(run, State.PREPARING, reason, worker=worker, attempts=run.attempts + 1,
                          heartbeat_at=timezone.now())


def training_config(run: TrainingRun, workdir: Path, manifest: Path) -> Any:
    """The engine's TrainConfig from the run's stored settings plus this machine's paths."""
    from training.engine.config import TrainConfig

    raw: dict[str, Any] = copy.deepcopy(run.config)
    raw["output_dir"] = str(workdir / "output")
    raw["model"] = training_model()
    raw["quantize"] = settings.TRAINING_QUANTIZE  # this worker's GPU decides, not the run
    raw.setdefault("data", {})["manifest"] = str(manifest)
    held_out = raw.pop("held_out_pairs", [])  # pair ids from the wizard; the engine wants manifest rows
    if held_out:
        raw["data"]["validation_indices"] = manifest_rows_of(run, held_out)
    raw.setdefault("export", {}).setdefault("recipe", run.recipe)
    raw["export"].setdefault("name", f"run-{run.pk}")
    validation = raw.setdefault("validation", {})
    validation["reference_videos"] = [
        str(fetch_stored(name, workdir / "validation")) for name in validation.get("reference_videos", [])
    ]
    return TrainConfig.model_validate(raw)


def _train(run: TrainingRun) -> Any:
    from training.engine.train import train

    workdir = run_workdir(run.pk)
    manifest = materialize_dataset(run, workdir)
    cfg = training_config(run, workdir, manifest)
    resumed_from = restore_latest_checkpoint(run, Path(cfg.output_dir) / "checkpoints")
    reporter = RunReporter(run.pk)
    TrainingRun.objects.filter(pk=run.pk).update(total_steps=cfg.optim.steps)
    reason = "Training." if resumed_from is None else f"Training, resumed at step {resumed_from}."
    transition(run, State.TRAINING, reason)
    result = train(cfg, reporter.hooks())
    reporter.flush()
    return result


def _store_adapter(run: TrainingRun, path: Path | None) -> Any:
    from studio.models import Adapter
    from training.engine.export import read_adapter

    if path is None:
        raise RuntimeError("The trainer finished without writing an adapter file.")
    info = read_adapter(path)
    metadata = dict(info.metadata)
    adapter = Adapter(
        owner=run.owner, name=run.name, source=Adapter.Source.TRAINED, run=run, recipe=run.recipe,
        checkpoint=run.checkpoints.order_by("-step").first(), metadata=metadata,
        base_model=metadata.get("base_model", ""), rank=int(metadata.get("rank", 0)) or None,
        reference_downscale_factor=int(metadata.get("reference_downscale_factor", 1)),
        trigger_phrase=metadata.get("trigger", ""),
    )
    with path.open("rb") as handle:
        adapter.file.save(f"run-{run.pk}-{path.name}", File(handle), save=False)
    adapter.save()
    return adapter


def _fail(run: TrainingRun, error: Exception) -> None:
    kind, message = explain(error, run)
    if kind == "internal":
        log.exception("Run %s failed on attempt %s", run.pk, run.attempts)
    else:
        log.warning("Run %s failed (%s): %s", run.pk, kind, message)
    run.refresh_from_db()
    transition(run, State.FAILED, message, error_kind=kind, error_message=message)


def explain(error: Exception, run: TrainingRun) -> tuple[str, str]:
    """(kind, plain-language message) for a training failure."""
    from pydantic import ValidationError

    from training.engine.dataset import PairError
    from training.engine.media import MediaError
    from training.engine.model_paths import ModelPathsError
    from training.engine.single_file import SingleFileError

    text = str(error)
    if type(error).__name__ == "OutOfMemoryError" or "out of memory" in text.lower():
        return "out_of_memory", (
            "The GPU ran out of memory. Try a smaller shape (fewer frames or a lower resolution) or a half-size "
            "reference; a lower adapter capacity (rank) also helps a little. If it keeps happening, an operator can "
            "train with int8 weights (TRAINING_QUANTIZE=int8) or set TRAINING_GPU_MEMORY_GB to the workers' real "
            "GPU memory, so the wizard refuses settings that do not fit."
        )
    if isinstance(error, DatasetNotReady | PairError | MediaError):
        return "bad_pair", f"A clip pair cannot be used: {text}"
    if isinstance(error, ValidationError | ImproperlyConfiguredModel | ModelPathsError | SingleFileError):
        return "bad_config", f"The training settings cannot be used: {text}"
    return "internal", (
        f"Something went wrong on the worker ({type(error).__name__}). An operator can find the details in the "
        f"worker log under run {run.pk}, attempt {run.attempts}."
    )
