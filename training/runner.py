"""Runs one TrainingRun on this worker: claim it, fetch its inputs, train with live reporting, store
the adapter, and end in a final state with a reason a creator understands.

Called by the `train_run` task. Safe to call twice for the same run: a run that is finished, or held
by another live worker, is left alone.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from pydantic import ValidationError

from engine.config import TrainConfig
from engine.media import MediaError
from engine.model_paths import ModelPathsError
from engine.single_file import SingleFileError
from jobs import lifecycle
from training.models import TrainingRun
from training.models_config import ImproperlyConfiguredModel, speed_model, training_model
from training.reporting import RunReporter
from training.runs import State
from training.signals import adapter_trained
from training.speeds import SpeedKey, StageClock, key_of, record_speeds
from training.storage import (
    DatasetNotReady,
    claim_workdir,
    fetch_stored,
    manifest_rows_of,
    materialize_dataset,
    restore_latest_checkpoint,
)

log = logging.getLogger(__name__)


def execute(run_id: int, worker: str, task_id: str = "") -> None:
    run = claim(run_id, worker, task_id)
    if run is None:
        return
    holder = lifecycle.Holder(run)
    clock = StageClock()  # from taking the run to storing its adapter: the launch-to-ready time a creator waits
    try:
        with lifecycle.Heartbeat(holder):
            result, key = _train(run, holder, clock)
            if holder.lost.is_set():
                raise lifecycle.JobLost
            if result.status == "cancelled":
                holder.end(State.CANCELLED, "Stopped at your request. The checkpoints saved so far are kept.")
                return
            holder.end(State.FINISHING, "Saving the adapter.")
            adapter = _store_adapter(run, result.adapter_path)
            holder.end(State.SUCCEEDED, f"Your adapter “{adapter.name}” is ready.", step=result.steps)
            clock.stop()
            if key is not None:
                _record_speeds(run, key, clock)
    except lifecycle.JobLost:
        # Taken over while this worker was silent, or stopped meanwhile: the new holder (or the stop) decides.
        log.warning("Run %s is no longer held by %s (lease %s); leaving it", run.pk, worker, holder.lease)
    except Exception as error:
        _fail(run, error, holder)


def claim(run_id: int, worker: str, task_id: str = "") -> TrainingRun | None:
    """Take the run for this worker, or return None when there is nothing to do."""
    return lifecycle.claim(TrainingRun, run_id, worker, task_id, start_reason="Preparing your clips.",
                           resume_reason="Resuming from the last checkpoint.")


def training_config(run: TrainingRun, workdir: Path, manifest: Path) -> Any:
    """The engine's TrainConfig from the run's stored settings plus this machine's paths."""
    raw: dict[str, Any] = copy.deepcopy(run.config)
    raw["output_dir"] = str(workdir / "output")
    raw["model"] = training_model(run.base)  # the run's base model, as this machine has it
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
    if validation.get("reference_audios"):  # the sample clips' reference voices (Identity with voices)
        validation["reference_audios"] = [str(fetch_stored(name, workdir / "validation" / "voices"))
                                          for name in validation["reference_audios"]]
    return TrainConfig.model_validate(raw)


def _record_speeds(run: TrainingRun, key: SpeedKey, clock: StageClock) -> None:
    """This server's speeds from a finished run; the adapter is stored already, so a failure here only logs."""
    try:
        record_speeds(key, clock)
    except Exception:
        log.exception("Could not record the measured speeds of run %s", run.pk)


def _train(run: TrainingRun, holder: lifecycle.Holder, clock: StageClock) -> tuple[Any, SpeedKey | None]:
    """The engine's result, and the size to record this attempt's speeds under (None for a resumed attempt, whose
    stages are only part of a run)."""
    # engine.train imports torch: loaded when training starts, not by the tests that import the runner
    from engine.train import train

    workdir = claim_workdir(run)
    manifest = materialize_dataset(run, workdir)
    cfg = training_config(run, workdir, manifest)
    resumed_from = restore_latest_checkpoint(run, Path(cfg.output_dir) / "checkpoints")
    reason = "Training." if resumed_from is None else f"Training, resumed at step {resumed_from}."
    # The run stays "preparing" until the engine has its clips ready (the reporter then moves it to training);
    # a stage left from an earlier attempt is cleared, so the page never shows one this attempt has not reached.
    reporter = RunReporter(holder, training_reason=reason, clock=clock)
    holder.update(total_steps=cfg.optim.steps, stage=TrainingRun.Stage.NONE, stage_done=0, stage_total=0)
    result = train(cfg, reporter.hooks())
    reporter.flush()
    first_attempt = resumed_from is None and run.attempts <= 1
    return result, (key_of(speed_model(run.base), cfg) if first_attempt else None)


def _store_adapter(run: TrainingRun, path: Path | None) -> Any:
    """The adapter as the Studio stored it (training.signals.adapter_trained has exactly one receiver)."""
    if path is None:
        raise RuntimeError("The trainer finished without writing an adapter file.")
    answers = [answer for _, answer in adapter_trained.send(sender=TrainingRun, run=run, path=path)]
    if len(answers) != 1:
        raise RuntimeError(f"{len(answers)} apps stored the trained adapter; exactly one (the Studio) must.")
    return answers[0]


def _fail(run: TrainingRun, error: Exception, holder: lifecycle.Holder) -> None:
    reference = lifecycle.error_reference(run)
    kind, message = explain(error, reference)
    if kind == "internal":
        log.exception("Run %s failed (reference %s)", run.pk, reference)
    else:
        log.warning("Run %s failed (%s, reference %s): %s", run.pk, kind, reference, message)
    holder.end(State.FAILED, message, error_kind=kind, error_message=message, error_ref=reference)


def explain(error: Exception, reference: str) -> tuple[str, str]:
    """(kind, plain-language message) for a training failure."""
    # engine.dataset and engine.checkpoint import torch: loaded only once a run failed, not with the runner
    from engine.checkpoint import ResumeMismatch
    from engine.dataset import PairError

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
    if isinstance(error, ResumeMismatch):
        return "bad_config", text
    return "internal", (
        f"Something went wrong on the worker ({type(error).__name__}). An operator can find the details in the "
        f"worker log under the reference {reference}."
    )
