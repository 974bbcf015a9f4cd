"""The Celery app: task routes and queues come from settings (CELERY_*)."""

from __future__ import annotations

import logging
import os
from functools import partial
from typing import Any

from celery import Celery
from celery.signals import after_setup_logger
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


# Periodic housekeeping: Celery's INFO lines for each run (sent, received, succeeded; every WATCHDOG_SECONDS)
# would bury what a worker's log is read for.
HOUSEKEEPING_TASKS = ("training.tasks.watchdog",)


class QuietHousekeeping(logging.Filter):
    """Drops the routine INFO lines about housekeeping tasks; their warnings and errors still show."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO or not record.name.startswith("celery"):
            return True
        message = record.getMessage()
        return not any(task in message for task in HOUSEKEEPING_TASKS)


@after_setup_logger.connect
def _quiet_housekeeping(logger: logging.Logger, **_: Any) -> None:
    # On the handlers, not the logger: a logger's own filters do not see its children's records.
    for handler in logger.handlers:
        handler.addFilter(QuietHousekeeping())


def _install_worker_steps() -> None:
    from config.heartbeat import HeartbeatStep

    app.steps["worker"].add(HeartbeatStep)


_install_worker_steps()
