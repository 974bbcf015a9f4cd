"""What each worker is doing right now: Celery inspect (active and reserved tasks) merged with the
heartbeats workers write to the database and with the jobs (of every kind) that name them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from config.celery import app
from jobs.lifecycle import Kind, kinds
from operators.broker import broker_answers
from operators.worker_control import live_workers
from training.models import WorkerHeartbeat

log = logging.getLogger(__name__)

INSPECT_TIMEOUT = 1.0  # seconds per question; a worker slower than this is shown as not answering


@dataclass(frozen=True)
class Job:
    """A job a worker holds (a run, a generation, an extraction), with a link to its admin page."""

    kind: str
    label: str
    url: str
    state: str


@dataclass(frozen=True)
class TaskInfo:
    name: str
    task_id: str
    args: str
    started: datetime | None
    job: Job | None


@dataclass
class WorkerRow:
    hostname: str
    answering: bool | None  # None: the broker is down, so nobody could be asked
    queues: list[str] = field(default_factory=list)
    device: str = ""
    last_seen: datetime | None = None
    stale: bool = False
    active: list[TaskInfo] = field(default_factory=list)
    reserved: list[TaskInfo] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)  # from the database: what names this worker as its holder


@dataclass(frozen=True)
class Inspection:
    """Celery inspect's answers: hostname → task dicts. `asked` is False when the broker was down."""

    active: dict[str, list[dict[str, Any]]]
    reserved: dict[str, list[dict[str, Any]]]
    asked: bool = True


def inspect_workers(timeout: float = INSPECT_TIMEOUT) -> Inspection:
    if not broker_answers():
        return Inspection({}, {}, asked=False)
    # Stop waiting as soon as every live worker has answered; silent ones cost `timeout` at most.
    inspector = app.control.inspect(timeout=timeout, limit=len(live_workers()) or None)
    try:
        return Inspection(inspector.active() or {}, inspector.reserved() or {})
    except Exception:  # the broker went away between the ping and the question
        log.exception("Celery inspect failed")
        return Inspection({}, {}, asked=False)


def worker_rows(inspection: Inspection, now: datetime | None = None) -> list[WorkerRow]:
    """One row per worker known from a heartbeat or from answering, live ones first."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    beats = {beat.hostname: beat for beat in WorkerHeartbeat.objects.all()}
    answered = set(inspection.active) | set(inspection.reserved)
    held = _held_jobs()
    rows = []
    for hostname in sorted(set(beats) | answered):
        row = WorkerRow(hostname, (hostname in answered) if inspection.asked else None)
        beat = beats.get(hostname)
        if beat is not None:
            row.queues, row.device, row.last_seen = list(beat.queues), describe_device(beat.info or {}), beat.last_seen
            row.stale = beat.last_seen < stale_before
        row.active = [_task(info) for info in inspection.active.get(hostname, [])]
        row.reserved = [_task(info) for info in inspection.reserved.get(hostname, [])]
        shown = {task.job.url for task in row.active if task.job}
        row.jobs = [job for job in held.get(hostname, []) if job.url not in shown]
        rows.append(row)
    rows.sort(key=lambda row: (row.stale, not row.answering, row.hostname))
    return rows


def describe_device(info: dict[str, Any]) -> str:
    if info.get("gpu_name"):
        return f"{info['gpu_name']} ({int(info.get('gpu_memory_bytes', 0)) // 2**30} GiB)"
    return str(info.get("device", "unknown"))


def _held_jobs() -> dict[str, list[Job]]:
    held: dict[str, list[Job]] = {}
    for kind in kinds():
        for job in kind.model.objects.filter(state__in=kind.model.HELD_STATES).exclude(worker=""):
            held.setdefault(job.worker, []).append(_job(kind, job))
    return held


def _task(info: dict[str, Any]) -> TaskInfo:
    name, args = str(info.get("name", "")), info.get("args") or []
    started = info.get("time_start")
    return TaskInfo(
        name=name,
        task_id=str(info.get("id", "")),
        args=", ".join(str(arg) for arg in args) if isinstance(args, list | tuple) else str(args),
        started=datetime.fromtimestamp(float(started), tz=UTC) if started else None,
        job=_job_of(name, args),
    )


def _job_of(name: str, args: Any) -> Job | None:
    if not isinstance(args, list | tuple) or not args or not str(args[0]).isdigit():
        return None
    for kind in kinds():
        if kind.task == name:
            job = kind.model.objects.filter(pk=int(args[0])).first()
            return _job(kind, job) if job else None
    return None


def _job(kind: Kind, job: Any) -> Job:
    meta = job._meta
    return Job(kind.noun.capitalize(), str(job), reverse(f"admin:{meta.app_label}_{meta.model_name}_change",
                                                          args=[job.pk]),
               f"{job.get_state_display()} · {kind.progress(job)}")
