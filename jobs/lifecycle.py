"""One lifecycle for every kind of job: queue, claim, hold (beat, report, obey a stop), end; and recover.

Every change of state goes through `transition`, which saves it and announces it in one transaction. A worker
takes a job with `claim`, which raises the job's lease: whoever holds an older lease (a worker that froze and
came back, a duplicate delivery) has lost the job and may no longer write to it (`Holder`).

Two kinds of trouble are kept apart:
- a *crash* is the job's own failure (a bad pair, out of memory, NaN loss): it ends the job with a plain reason;
- a *loss* is its worker vanishing (killed, restarted, frozen, machine gone): the job goes back to the queue and
  resumes, as often as it takes within JOB_RECOVERY_MINUTES without a worker; it never counts as an attempt.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import Job

log = logging.getLogger(__name__)

J = TypeVar("J", bound=Job)

# The broker priority (0 first … 9 last) of a job sent back to the queue after its worker vanished: it was already
# running, so it resumes before jobs that have not started.
FIRST = 0

# A job that takes its machine down every time it starts (say it runs the host out of memory) is not retried
# for ever: after this many losses in a row without progress it fails with a reason.
MAX_STALLED_LOSSES = 3


@dataclass(frozen=True)
class Kind:
    """How the lifecycle reaches one kind of job: each app registers its own."""

    model: type[Job]
    noun: str  # "training run": for messages
    task: str  # the Celery task that runs it
    progress: Callable[[Any], str]  # how far it got, for operators: "step 40/100"
    send: Callable[..., None]  # (job, first=False): sends its task on commit; `first`: ahead of the queue
    announce: Callable[[Any, str, str], None]  # records and pushes a change: (job, state, message)
    lost_reason: Callable[[Any], str]  # what the page says when the worker vanished and the job is requeued


_KINDS: dict[type[Job], Kind] = {}


def register(kind: Kind) -> None:
    _KINDS[kind.model] = kind


def kind_of(job: Job | type[Job]) -> Kind:
    model = job if isinstance(job, type) else type(job)
    return _KINDS[model]


def kinds() -> list[Kind]:
    return list(_KINDS.values())


class JobLost(Exception):
    """This worker no longer holds the job (another took it over, or it was stopped while this one was silent)."""


# --- state changes


def transition(job: J, state: str, reason: str = "", **fields: Any) -> J:
    """Move `job` to `state`, set the timestamps that go with it, save, and announce it, all at once."""
    now = timezone.now()
    job.state = state
    job.state_reason = reason[:500]
    if state == job.QUEUED:
        job.queued_at = now
    elif state == job.RUNNING and job.started_at is None:
        job.started_at = now
    elif state in job.FINAL_STATES:
        job.finished_at = now
    for name, value in fields.items():
        setattr(job, name, value)
    # One transaction, so no reader ever sees the new state without the event that announces it.
    with transaction.atomic():
        job.save()
        kind_of(job).announce(job, state, reason)
    return job


def stale_before(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) - timedelta(seconds=settings.WORKER_STALE_SECONDS)


def holder_alive(job: Job, now: datetime | None = None) -> bool:
    """Whether the worker holding `job` has beaten recently enough to count as alive."""
    return job.is_held and job.heartbeat_at is not None and job.heartbeat_at >= stale_before(now)


def _count_loss(job: Job, now: datetime) -> None:
    """Record that the job's worker vanished: a loss, with the time it went without one, never an attempt."""
    last_sign = job.heartbeat_at or job.claimed_at or now
    job.losses += 1
    job.lost_seconds += max(0.0, (now - last_sign).total_seconds())
    progressed = job.progress_at is not None and job.claimed_at is not None and job.progress_at > job.claimed_at
    job.stalled_losses = 0 if progressed else job.stalled_losses + 1


def _lose(job: Job, now: datetime) -> bool:
    """Count a loss of `job`'s worker; when it has lost too many, fail it with the reason and return True."""
    _count_loss(job, now)
    reason = _give_up_reason(job)
    if reason is None:
        return False
    transition(job, job.FAILED, reason, error_kind="worker_lost", error_message=reason, worker="",
               lease=job.lease + 1)
    return True


def _label(job: Job) -> str:
    """How the watchdog and the logs name a job: `trainingrun:12`."""
    return f"{type(job).__name__.lower()}:{job.pk}"


def _give_up_reason(job: Job) -> str | None:
    """Why a job that keeps losing its worker is not resumed again, or None to resume it."""
    noun = kind_of(job).noun
    if job.stalled_losses >= MAX_STALLED_LOSSES:
        return (f"The machine working on this {noun} stopped {job.stalled_losses} times in a row before it got "
                "anywhere, so it was not started again: something in it may take the machine down (running out of "
                "memory, say). An operator can look at the workers' logs; you can try again with a smaller shape.")
    budget = settings.JOB_RECOVERY_MINUTES * 60
    if job.lost_seconds > budget:
        return (f"This {noun} lost its worker {job.losses} times and went {job.lost_seconds / 60:.0f} minutes "
                f"without one, more than this installation waits ({settings.JOB_RECOVERY_MINUTES} minutes). An "
                "operator can check that workers are running.")
    return None


def _process_alive(pid: int | None) -> bool:
    """Whether process `pid` runs on this machine (a worker's hostname is only ever used on one machine)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (not Linux): trust the signal


def claim(model: type[J], pk: int, worker: str, task_id: str = "", *, start_reason: str = "",
          resume_reason: str = "", **fields: Any) -> J | None:
    """Take the job for this worker, or None when there is nothing to do (gone, ended, a draft, held by a live
    worker, or given up after too many losses).

    A job held by a worker that has stopped beating, or delivered again with the message its holder was running
    (its worker process died), is taken over: that is a loss, not an attempt.
    """
    now = timezone.now()
    with transaction.atomic():
        job = model.objects.select_for_update().filter(pk=pk).first()
        if job is None or job.state in job.FINAL_STATES or not job.is_active:
            return None
        if job.is_held:
            redelivered = bool(task_id) and job.task_id == task_id
            if redelivered and job.worker == worker and _process_alive(job.worker_pid):
                # Its process still runs on this machine: the broker restored its message after a dropped
                # connection, nobody died.
                redelivered = False
            if not redelivered and holder_alive(job, now):
                return None  # a duplicate delivery: a live worker is on it
            log.warning("%s: its worker %s was lost; taking it over", _label(job), job.worker)
            if _lose(job, now):
                return None
        elif job.attempts > 0 and job.queued_at is not None:
            # Requeued after a loss (an operator's requeue resets attempts): the wait counts as time without one.
            job.lost_seconds += max(0.0, (now - job.queued_at).total_seconds())
        if job.cancel_requested:
            transition(job, job.CANCELLED, "Cancelled before it started.", worker="", lease=job.lease + 1)
            return None
        resuming = job.attempts > 0
        return transition(
            job, job.RUNNING, (resuming and resume_reason) or start_reason,
            worker=worker, worker_pid=os.getpid(), task_id=task_id[:64], lease=job.lease + 1, heartbeat_at=now,
            claimed_at=now, attempts=job.attempts if resuming else job.attempts + 1, **fields,
        )


def requeue(job: J, reason: str, **fields: Any) -> J:
    """Send a held job back to the queue (call inside a transaction holding its row): it resumes elsewhere."""
    transition(job, job.QUEUED, reason, worker="", task_id="", lease=job.lease + 1, **fields)
    kind_of(job).send(job, first=True)
    return job


def request_stop(model: type[J], pk: int) -> J | None:
    """Stop a job: at once when it waits or its worker is silent, else after the holder's current step.

    Returns the job, or None when it had already ended. A silent worker that comes back finds its lease gone and
    stops without writing anything.
    """
    with transaction.atomic():
        job = model.objects.select_for_update().get(pk=pk)
        if job.state in job.FINAL_STATES:
            return None
        if not job.is_held:
            return transition(job, job.CANCELLED, "Cancelled before it started.", cancel_requested=True,
                              lease=job.lease + 1)
        if not holder_alive(job):
            return transition(job, job.CANCELLED, "Stopped at your request, at once: the machine working on it had "
                              "stopped answering.", cancel_requested=True, worker="", lease=job.lease + 1)
        job.cancel_requested = True
        job.save(update_fields=["cancel_requested"])
    return job


def error_reference(job: Job) -> str:
    """A short reference an operator can find in the worker's log, shown with an unexplained failure."""
    return f"{type(job).__name__.lower()}-{job.pk}-{uuid.uuid4().hex[:8]}"


# --- the worker's side


class Holder:
    """What a worker may do with a job it claimed, as long as its lease is current.

    Every write is conditional on the lease, so a worker that lost the job (frozen and requeued, or stopped while
    silent) changes nothing; `should_stop` tells its loop to end.
    """

    def __init__(self, job: Job) -> None:
        self.job = job
        self.model = type(job)
        self.lease = job.lease
        self.lost = threading.Event()

    def _mine(self) -> Any:
        return self.model.objects.filter(pk=self.job.pk, lease=self.lease)

    def beat(self) -> bool:
        if not self._mine().update(heartbeat_at=timezone.now()):
            self.lost.set()
        return not self.lost.is_set()

    def update(self, *, progressed: bool = True, **fields: Any) -> None:
        """Write progress fields (and the heartbeat); raise JobLost when the job is no longer ours."""
        now = timezone.now()
        extra = {"progress_at": now} if progressed else {}
        if not self._mine().update(heartbeat_at=now, **extra, **fields):
            self.lost.set()
            raise JobLost
        for name, value in fields.items():
            setattr(self.job, name, value)

    def should_stop(self) -> bool:
        """True when the creator asked to stop, or the job is no longer ours."""
        row = self._mine().values("cancel_requested").first()
        if row is None:
            self.lost.set()
            return True
        return bool(row["cancel_requested"])

    def end(self, state: str, reason: str = "", **fields: Any) -> bool:
        """The job's final (or next held) state, if it is still ours; False when it was lost meanwhile."""
        with transaction.atomic():
            job = self.model.objects.select_for_update().filter(pk=self.job.pk, lease=self.lease).first()
            if job is None:
                self.lost.set()
                return False
            transition(job, state, reason, **fields)
        self.job.state, self.job.state_reason = state, reason
        for name, value in fields.items():
            setattr(self.job, name, value)
        return True


class Heartbeat:
    """Beats for a held job from a background thread, even through long preparation or sampling; a killed or
    frozen worker stops beating and the watchdog notices."""

    def __init__(self, holder: Holder, interval: float | None = None) -> None:
        self.holder = holder
        self.interval = interval or settings.WORKER_HEARTBEAT_SECONDS
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{holder.job.pk}-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    close_old_connections()
                    if not self.holder.beat():
                        return  # lost: the job's own loop stops at its next check
                except Exception:  # a missed beat must not end the thread: the next one retries
                    log.warning("Could not record the heartbeat of job %s", self.holder.job.pk, exc_info=True)
        finally:
            connection.close()  # this thread's own connection


# --- recovery: the watchdog, and a worker starting again


@dataclass(frozen=True)
class Recovered:
    requeued: list[str]
    stopped: list[str]
    failed: list[str]
    resent: list[str]


def recover_jobs_of(worker: str) -> Recovered:
    """Requeue every job held under `worker`'s name, at once: called when a worker of that name starts, so the
    jobs its previous process held (killed, restarted) need not wait for their heartbeat to go stale. Should an
    old process of that name still run somewhere, its lease is gone and it writes nothing more."""
    now = timezone.now()
    result = Recovered([], [], [], [])
    for kind in kinds():
        model = kind.model
        for pk in model.objects.filter(state__in=model.HELD_STATES, worker=worker).values_list("pk", flat=True):
            with transaction.atomic():
                job = model.objects.select_for_update().get(pk=pk)
                if job.is_held and job.worker == worker:
                    getattr(result, _recover(kind, job, now)).append(_label(job))
    return result


def _recover(kind: Kind, job: Job, now: datetime) -> str:
    """End or requeue a held job whose worker is gone (inside a transaction holding its row): "stopped" when a stop
    was asked for, "failed" when it has lost its worker too often, else "requeued"."""
    if job.cancel_requested:
        transition(job, job.CANCELLED, "Stopped at your request: the machine working on it had stopped answering.",
                   worker="", lease=job.lease + 1)
        return "stopped"
    log.warning("%s lost its worker %s (last beat %s); requeueing", _label(job), job.worker, job.heartbeat_at)
    if _lose(job, now):
        return "failed"
    requeue(job, kind.lost_reason(job))
    return "requeued"


# A queued job whose task message was lost (a broker restart without persistence) is sent again; duplicates are
# harmless because a worker claims a job only once.
RESEND_QUEUED_AFTER = timedelta(minutes=2)


def recover_lost_jobs(now: datetime | None = None) -> Recovered:
    """Requeue every held job whose worker stopped beating; end those that were asked to stop or are given up.

    Runs in a process of its own (`manage.py watchdog`), never inside a worker it is meant to watch.
    """
    now = now or timezone.now()
    result = Recovered([], [], [], [])
    for kind in kinds():
        model = kind.model
        silent = model.objects.filter(state__in=model.HELD_STATES, heartbeat_at__lt=stale_before(now))
        for pk in silent.values_list("pk", flat=True):
            with transaction.atomic():
                job = model.objects.select_for_update().get(pk=pk)
                if not job.is_held or holder_alive(job, now):
                    continue
                getattr(result, _recover(kind, job, now)).append(_label(job))
        cut = now - RESEND_QUEUED_AFTER
        waiting = model.objects.filter(Q(sent_at__lt=cut) | Q(sent_at__isnull=True, queued_at__lt=cut),
                                       state=model.QUEUED)
        for job in waiting:
            with transaction.atomic():
                kind.send(job)
                # A job waiting behind a long queue is sent again every few minutes, not at every pass.
                model.objects.filter(pk=job.pk, state=model.QUEUED).update(sent_at=now)
            result.resent.append(_label(job))
    return result
