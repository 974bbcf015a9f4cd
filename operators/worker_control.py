"""The console's questions to live workers, over Celery's remote-control channel (the broker).

Each worker measures and cleans training caches on its own disk, so this works when GPU workers run on
other machines. Commands are registered when Django starts (operators.apps), which a worker does too.
Every question has a short timeout and goes only to workers whose heartbeat is fresh: a page never hangs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from celery.worker.control import Panel, control_command, inspect_command
from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from config.celery import app
from operators import caches
from operators.broker import broker_answers
from training.models import WorkerHeartbeat

log = logging.getLogger(__name__)

CACHE_USAGE = "iclora_cache_usage"
CLEAN_CACHES = "iclora_clean_caches"


@dataclass
class Answers:
    replies: dict[str, Any] = field(default_factory=dict)  # worker hostname → its reply
    silent: list[str] = field(default_factory=list)  # live workers that did not answer in time


def register_commands() -> None:
    if CACHE_USAGE in Panel.data:
        return

    @inspect_command(name=CACHE_USAGE)
    def cache_usage(state: Any) -> dict[str, Any]:
        return _safely(caches.measure)

    @control_command(name=CLEAN_CACHES)
    def clean_caches(state: Any) -> dict[str, Any]:
        return _safely(caches.clean_ended_runs)


def live_workers() -> list[str]:
    fresh_after = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    return sorted(WorkerHeartbeat.objects.filter(last_seen__gte=fresh_after).values_list("hostname", flat=True))


def ask_workers(command: str, timeout: float) -> Answers:
    """Send `command` to every live worker and collect the answers that arrive within `timeout` seconds."""
    expected = live_workers()
    if not expected or not broker_answers():
        return Answers(silent=expected)
    try:
        raw = app.control.broadcast(command, destination=expected, reply=True, timeout=timeout,
                                    limit=len(expected)) or []
    except Exception:  # the broker went away between the ping and the broadcast
        log.exception("Broadcasting %s to the workers failed", command)
        return Answers(silent=expected)
    replies = {host: reply for answer in raw for host, reply in answer.items()}
    return Answers(replies, [host for host in expected if host not in replies])


def _safely(work: Any) -> dict[str, Any]:
    # An exception here would reach the console as Celery's generic error; say what failed instead.
    try:
        close_old_connections()  # the worker's long-lived process may hold a connection the database closed
        return dict(work())
    except Exception as error:
        log.exception("Console command failed on this worker")
        return {"error": f"{type(error).__name__}: {error}"}
