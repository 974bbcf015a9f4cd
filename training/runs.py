"""Run lifecycle: every state change goes through `transition`, which records it as an event."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db import transaction
from pydantic import ValidationError

from config.files import delete_unreferenced_on_commit
from engine.bases import BASES, Base
from engine.config import TrainConfig
from jobs import lifecycle
from jobs.enqueue import enqueue_on_commit
from training.events import record_event
from training.models import Checkpoint, RunEvent, TrainingRun
from training.models_config import available_bases
from training.notify import notify_run_ended
from training.quotas import QuotaExceeded, check_can_launch
from training.tasks import train_run
from training.translate import translate_config

State = TrainingRun.State


class RunStateError(Exception):
    """An action that does not fit the run's current state, with the reason in plain words."""


def transition(run: TrainingRun, state: str, reason: str = "", **fields: object) -> TrainingRun:
    """Move `run` to `state`, save the timestamps that go with it, and record the change as an event."""
    return lifecycle.transition(run, state, reason, **fields)


def announce(run: TrainingRun, state: str, reason: str) -> None:
    """The run's side of a state change: an event the page shows, and the creator told when it ends."""
    label = State(state).label
    record_event(run.pk, RunEvent.Kind.STATE, {"state": state, "label": label, "message": reason or label})
    if state in TrainingRun.FINAL_STATES and run.started_at is not None:
        transaction.on_commit(partial(notify_run_ended, run.pk))


def send(run: TrainingRun, first: bool = False) -> None:
    enqueue_on_commit(train_run, run.pk, priority=lifecycle.FIRST if first else broker_priority(run))


def lost_reason(run: TrainingRun) -> str:
    """What the run page says once the watchdog has sent a run back to the queue."""
    saved = run.checkpoints.order_by("-step").values_list("step", flat=True).first()
    where = f"from step {saved}, its last checkpoint," if saved else "from the start (no checkpoint was saved yet)"
    return f"The machine training this run stopped answering; it continues {where} on the next free machine."


KIND = lifecycle.Kind(model=TrainingRun, noun="training run", task=train_run.name, send=send, announce=announce,
                      lost_reason=lost_reason, progress=lambda run: f"step {run.step}/{run.total_steps}")


def broker_priority(run: TrainingRun) -> int:
    """The run's priority (0 normal, higher sooner) as the broker's 0 (first) … 9 (last)."""
    return max(0, min(9, 5 - run.priority))


def runs_ahead(run: TrainingRun) -> int | None:
    """How many queued runs a GPU worker takes before `run`, as the broker orders them (a sooner priority level
    first, then the order they were queued in); None when `run` is not waiting."""
    if run.state != State.QUEUED or run.queued_at is None:
        return None
    mine = (broker_priority(run), run.queued_at, run.pk)
    waiting = TrainingRun.objects.filter(state=State.QUEUED, queued_at__isnull=False).exclude(pk=run.pk)
    return sum(1 for other in waiting.only("priority", "queued_at")
               if (broker_priority(other), other.queued_at, other.pk) < mine)


def check_config(config: dict[str, Any]) -> None:
    """Refuse, in words a creator can act on, a run config the engine would refuse on the GPU worker.

    The worker adds what only it knows (its model, the run folder, the manifest of the clips it fetched, held-out
    pairs as manifest rows; see training.runner.training_config): here those get stand-ins, so only the creator's
    settings are judged, before any GPU time is spent.
    """
    raw = copy.deepcopy(config)
    raw.pop("held_out_pairs", None)
    raw["output_dir"] = "run"
    raw.setdefault("data", {})["manifest"] = "manifest.jsonl"
    try:
        TrainConfig.model_validate(raw)
    except ValidationError as error:
        problems = "; ".join(
            ": ".join(filter(None, (".".join(str(part) for part in e["loc"]), e["msg"].removeprefix("Value error, "))))
            for e in error.errors())
        raise RunStateError(f"These training settings cannot be used ({problems}). Change them on the Settings "
                            "step and launch again.") from error


def launch_run(run: TrainingRun) -> TrainingRun:
    """Queue a draft run for training, its settings checked first; the task is sent only once the transaction
    commits."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().select_related("owner").get(pk=run.pk)
        if run.state != State.DRAFT:
            raise RunStateError(f"This run was already launched (it is {run.get_state_display().lower()}).")
        check_config(run.config)
        try:
            check_can_launch(run.owner)
        except QuotaExceeded as error:
            raise RunStateError(str(error)) from error
        transition(run, State.QUEUED, "Waiting for a free machine.")
        send(run)
    return run


def request_cancel(run: TrainingRun) -> TrainingRun:
    """Stop a run: at once if it is still waiting or its worker is silent, within seconds (after the current
    step) if training."""
    stopped = lifecycle.request_stop(TrainingRun, run.pk)
    if stopped is None:
        run.refresh_from_db()
        raise RunStateError(f"This run has already ended ({run.get_state_display().lower()}).")
    if stopped.is_active:
        record_event(run.pk, RunEvent.Kind.LOG, {"message": "Stopping after the current step…"})
    return stopped


def request_flag(run: TrainingRun, flag: str) -> None:
    """Ask the worker to save a checkpoint (`save_requested`) or write samples (`sample_requested`) now."""
    messages = {"save_requested": "A checkpoint will be saved after the current step.",
                "sample_requested": "Validation samples will be made after the current step."}
    if run.state != State.TRAINING:
        raise RunStateError("That only works while the run is training.")
    TrainingRun.objects.filter(pk=run.pk).update(**{flag: True})
    record_event(run.pk, RunEvent.Kind.LOG, {"message": messages[flag]})


def continue_run(checkpoint: Checkpoint, extra_steps: int) -> TrainingRun:
    """A new run that starts from `checkpoint` and trains `extra_steps` more."""
    source = checkpoint.run
    if extra_steps < 1:
        raise RunStateError("Add at least one step.")
    if source.is_active:
        raise RunStateError("Wait until this run has ended, or cancel it, before continuing it.")
    config = copy.deepcopy(source.config)
    config.setdefault("optim", {})["steps"] = checkpoint.step + extra_steps
    # The engine refuses a checkpoint made with another total of steps unless told the run extends it on purpose.
    config.setdefault("checkpoint", {})["extend"] = True
    with transaction.atomic():
        run = TrainingRun.objects.create(
            owner=source.owner, dataset=source.dataset, recipe=source.recipe, base=source.base, config=config,
            name=f"{source.name} (continued)", resume_from=checkpoint, total_steps=checkpoint.step + extra_steps,
        )
        record_event(run.pk, RunEvent.Kind.LOG, {
            "message": f"Continues “{source.name}” from step {checkpoint.step} for {extra_steps} more steps."
        })
        launch_run(run)
    return run


@dataclass(frozen=True)
class TrainAgain:
    """What training `source` again on another base would launch: the settings translated to that base's rules,
    what changed in a creator's words, and its steps."""

    source: TrainingRun
    base: Base
    config: dict[str, Any]
    changes: list[str]
    steps: int

    @property
    def from_base(self) -> Base:
        return BASES[self.source.base]


def plan_train_again(source: TrainingRun, base: str) -> TrainAgain:
    """What `train_again_on` would launch, checked as it checks it: the confirmation page shows it before launching.
    A RunStateError says in plain words why it cannot."""
    record = BASES.get(base)
    if record is None or base not in available_bases():
        raise RunStateError(f"{record.title if record else base} is not offered on this server.")
    if base == source.base:
        raise RunStateError(f"This run already trains on {record.title}.")
    if source.is_active or source.state == State.DRAFT:
        raise RunStateError("Wait until this run has ended, or cancel it, before training it again.")
    if source.dataset is None:
        raise RunStateError("The clips of this run were deleted, so it cannot be trained again.")
    config, changes = translate_config(source.config or {}, BASES[source.base], record)
    steps = int((config.get("optim") or {}).get("steps") or source.total_steps)
    return TrainAgain(source=source, base=record, config=config, changes=changes, steps=steps)


def train_again_on(source: TrainingRun, base: str) -> TrainingRun:
    """A new run of `source`'s clips and settings on another base model this server offers, launched: an adapter only
    works with the base it was trained on, so one for the other base is trained from the start. Its settings follow
    the new base's rules (training.translate), and its first log line says what changed."""
    plan = plan_train_again(source, base)
    with transaction.atomic():
        run = TrainingRun.objects.create(
            owner=source.owner, dataset=source.dataset, recipe=source.recipe, base=plan.base.name, config=plan.config,
            name=f"{source.name} ({plan.base.title})"[:200], total_steps=plan.steps,
        )
        record_event(run.pk, RunEvent.Kind.LOG, {
            "message": f"Trains “{source.name}” again on {plan.base.title}, with the same clips. "
                       + " ".join(plan.changes),
            "changes": plan.changes,
        })
        launch_run(run)
    return run


def requeue_run(run: TrainingRun, reason: str) -> TrainingRun:
    """Send a run back to the queue (an operator's decision): it resumes from its last checkpoint."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.state == State.DRAFT:
            raise RunStateError("A draft has not been launched yet.")
        if run.state == State.SUCCEEDED:
            raise RunStateError("This run has finished; continue it from a checkpoint instead.")
        # A new lease: a worker still holding the run stops writing to it.
        lifecycle.requeue(run, reason, attempts=0, losses=0, stalled_losses=0, lost_seconds=0.0,
                          cancel_requested=False, error_kind="", error_message="", error_ref="")
    return run


def delete_run(run: TrainingRun) -> None:
    """Delete a run that is not going (a draft or an ended run) with its history, checkpoints and samples, and
    their files once the deletion commits. Adapters made from it stay, with their files, even a file they share
    with one of its checkpoints."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_active:
            raise RunStateError("This run is still going. Stop it first; it can be deleted once it has stopped.")
        names = [field.name for checkpoint in run.checkpoints.all()
                 for field in (checkpoint.adapter_file, checkpoint.training_file, checkpoint.state_file) if field]
        names += [field.name for sample in run.samples.all() for field in (sample.video_file, sample.reference_file)
                  if field]
        run.delete()
        delete_unreferenced_on_commit(names)
