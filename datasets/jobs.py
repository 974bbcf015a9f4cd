"""Clip checks and splits as jobs (jobs.lifecycle): queued with the pair marked "being checked", run on a `cpu`
worker, requeued if that worker vanishes, and never leaving a pair "being checked" for ever: a check that crashes
marks the pair with what happened."""

from __future__ import annotations

import logging

from django.db import transaction

from datasets.limits import current
from datasets.models import ClipPair, PairJob
from datasets.tasks import pair_job
from jobs import lifecycle
from jobs.enqueue import enqueue_on_commit

log = logging.getLogger(__name__)
State = PairJob.State


def send(job: PairJob, first: bool = False) -> None:
    enqueue_on_commit(pair_job, job.pk, priority=lifecycle.FIRST if first else None)


def announce(job: PairJob, state: str, reason: str) -> None:
    """The Clips page refreshes itself while a pair is being checked: nothing to push."""


def lost_reason(job: PairJob) -> str:
    return "The worker doing this stopped answering; it starts again on the next free worker."


KIND = lifecycle.Kind(model=PairJob, noun="clip check", task=pair_job.name, send=send, announce=announce,
                      lost_reason=lost_reason, progress=lambda job: job.get_action_display().lower())


def queue(pair: ClipPair, action: str) -> PairJob:
    """Send `action` on `pair` to a `cpu` worker (inside the caller's transaction: it is sent on commit)."""
    with transaction.atomic():
        job = PairJob(dataset_id=pair.dataset_id, pair=pair, pair_name=pair.name, action=action)
        lifecycle.transition(job, State.QUEUED, "Waiting for a worker.")
        send(job)
    return job


def run_pair_job(job_id: int, worker: str, task_id: str = "") -> None:
    """The worker's part: check or split the pair; idempotent (a job already done is skipped)."""
    # both import this module to queue jobs: breaks the cycles datasets.services/splitting -> datasets.jobs
    from datasets.services import run_checks  # the services import this module to queue jobs
    from datasets.splitting import run_split

    job = lifecycle.claim(PairJob, job_id, worker, task_id)
    if job is None:
        return
    holder = lifecycle.Holder(job)
    pair = (ClipPair.objects.select_related("dataset", "target_source", "reference_source")
            .filter(pk=job.pair_id).first() if job.pair_id is not None else None)
    try:
        with lifecycle.Heartbeat(holder):
            if pair is not None and job.action == PairJob.Action.CHECK:
                run_checks(pair)
            elif pair is not None:
                run_split(pair.pk, current())
        holder.end(State.DONE, "")
    except Exception as error:
        reference = lifecycle.error_reference(job)
        log.exception("%s failed (reference %s)", job, reference)
        message = (f"“{job.pair_name}” could not be {'checked' if job.action == PairJob.Action.CHECK else 'split'} "
                   f"on the worker ({type(error).__name__}). Upload it again; if it keeps happening, an operator can "
                   f"look at the worker's log under the reference {reference}.")
        if holder.end(State.FAILED, "", error_message=message, error_ref=reference):
            ClipPair.objects.filter(pk=job.pair_id or 0, status=ClipPair.Status.CHECKING).update(
                status=ClipPair.Status.ERROR, messages=[{"level": "error", "code": "check_failed", "text": message}])
