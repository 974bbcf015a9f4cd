"""Run lifecycle: every state change goes through `transition`, which records it as an event."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from config.celery import enqueue_on_commit
from training.events import record_event
from training.models import RunEvent, TrainingRun

State = TrainingRun.State


class RunStateError(Exception):
    """An action that does not fit the run's current state, with the reason in plain words."""


def transition(run: TrainingRun, state: str, reason: str = "", **fields: object) -> TrainingRun:
    """Move `run` to `state`, save the timestamps that go with it, and record the change."""
    now = timezone.now()
    run.state = state
    run.state_reason = reason
    if state == State.QUEUED:
        run.queued_at = now
    elif state == State.PREPARING and run.started_at is None:
        run.started_at = now
    elif state in TrainingRun.FINAL_STATES:
        run.finished_at = now
    for name, value in fields.items():
        setattr(run, name, value)
    run.save()
    label = State(state).label
    record_event(run.pk, RunEvent.Kind.STATE, {"state": state, "label": label, "message": reason or label})
    return run


def launch_run(run: TrainingRun) -> TrainingRun:
    """Queue a draft run for training; the task is sent only once the transaction commits."""
    from training.tasks import train_run

    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.state != State.DRAFT:
            raise RunStateError(f"This run was already launched (it is {run.get_state_display().lower()}).")
        transition(run, State.QUEUED, "Waiting for a GPU worker.")
        enqueue_on_commit(train_run, run.pk)
    return run
