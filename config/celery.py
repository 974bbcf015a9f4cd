"""The Celery app: task routes and queues come from settings (CELERY_*)."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

from config.redis import use_broker_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Before any broker connection: a worker must survive a Redis restart (see config.redis.BrokerChannel).
use_broker_transport()
app = Celery("iclora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in ("cpu", "gpu")]
app.autodiscover_tasks(["config", "training", "wizard", "studio", "prep"])


def enqueue_on_commit(task: Any, *args: Any, priority: int | None = None, queue: str | None = None) -> None:
    """Send `task` once the current transaction commits, so the worker never sees missing rows.

    `priority` is the broker's: 0 is taken first, 9 last (default 5); `queue` overrides the task's route.
    """
    from django.db import transaction

    options: dict[str, Any] = {} if priority is None else {"priority": priority}
    if queue is not None:
        options["queue"] = queue
    # Robust: a broker away for longer than the publish retries must not turn a saved change into an error page;
    # the failure is logged, and the job watchdog sends a job still queued again (jobs.lifecycle.recover_lost_jobs).
    transaction.on_commit(partial(task.apply_async, args=args, **options), robust=True)


def _install_worker_steps() -> None:
    from config.heartbeat import HeartbeatStep

    app.steps["worker"].add(HeartbeatStep)


_install_worker_steps()
