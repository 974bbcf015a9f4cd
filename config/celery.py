"""The Celery app: task routes and queues come from settings (CELERY_*)."""

from __future__ import annotations

import os
from functools import partial
from typing import Any

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

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
    transaction.on_commit(partial(task.apply_async, args=args, **options))


def _install_worker_steps() -> None:
    from config.heartbeat import HeartbeatStep

    app.steps["worker"].add(HeartbeatStep)


_install_worker_steps()
