"""Sending a job's task to the broker once the transaction that saved the job commits.

Celery's own `apply_async_on_commit` (celery.contrib.django.task.DjangoTask) is not used: it registers the send
without `robust=True`, so a broker that stays away past the publish retries would raise inside the commit and
turn a change that was saved into an error page.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction


def enqueue_on_commit(task: Any, *args: Any, priority: int | None = None, queue: str | None = None) -> None:
    """Send `task` once the current transaction commits, so the worker never sees missing rows.

    `priority` is the broker's: 0 is taken first, 9 last (default 5); `queue` overrides the task's route.
    """
    options: dict[str, Any] = {} if priority is None else {"priority": priority}
    if queue is not None:
        options["queue"] = queue
    # Robust: a broker away for longer than the publish retries must not turn a saved change into an error page;
    # the failure is logged, and the job watchdog sends a job still queued again (jobs.lifecycle.recover_lost_jobs).
    transaction.on_commit(partial(task.apply_async, args=args, **options), robust=True)
