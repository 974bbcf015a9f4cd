"""Finds runs whose worker stopped beating and sends them back to the queue to resume from the last
checkpoint, a bounded number of times. No run stays "training" without a live worker."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.celery import enqueue_on_commit
from training.models import TrainingRun
from training.runs import State, broker_priority, transition

log = logging.getLogger(__name__)

HELD_STATES = (State.PREPARING, State.TRAINING, State.FINISHING)
# A queued run whose task message was lost (say, a broker restart without persistence) is sent again;
# duplicates are harmless because a worker claims a run only once.
RESEND_QUEUED_AFTER = timedelta(minutes=10)


def requeue_lost_runs() -> list[int]:
    from training.runner import MAX_ATTEMPTS
    from training.tasks import train_run

    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    requeued = []
    for run_id in TrainingRun.objects.filter(state__in=HELD_STATES, heartbeat_at__lt=stale_before).values_list(
        "pk", flat=True
    ):
        with transaction.atomic():
            run = TrainingRun.objects.select_for_update().get(pk=run_id)
            if run.state not in HELD_STATES or (run.heartbeat_at and run.heartbeat_at >= stale_before):
                continue
            if run.attempts >= MAX_ATTEMPTS:
                transition(run, State.FAILED, f"The worker stopped responding {run.attempts} times; training "
                           "was stopped.", error_kind="worker_lost",
                           error_message="The GPU worker kept stopping while training this run. An operator "
                           "can check the GPU machines; you can continue from the last checkpoint.")
                continue
            log.warning("Run %s lost its worker %s; requeueing", run.pk, run.worker)
            transition(run, State.QUEUED, f"The worker {run.worker or ''} stopped responding; the run will "
                       "resume from its last checkpoint.".replace("  ", " "))
            enqueue_on_commit(train_run, run.pk, priority=broker_priority(run))
            requeued.append(run.pk)
    for waiting in TrainingRun.objects.filter(state=State.QUEUED, queued_at__lt=now - RESEND_QUEUED_AFTER):
        train_run.apply_async(args=[waiting.pk], priority=broker_priority(waiting))
    return requeued
