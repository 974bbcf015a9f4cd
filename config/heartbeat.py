"""Workers record a heartbeat in the database, which /healthz and the job watchdog read; a worker starting takes
back, for requeueing, the jobs a previous process of the same name held.

A Celery worker bootstep: the worker's own timer calls `beat` every WORKER_HEARTBEAT_SECONDS, and
once at start so a fresh worker shows up at once.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from typing import Any

from celery import bootsteps
from django.conf import settings
from django.db import close_old_connections

log = logging.getLogger(__name__)


class HeartbeatStep(bootsteps.StartStopStep):
    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.timer_ref: Any = None

    def start(self, worker: Any) -> None:
        queues = sorted(worker.app.amqp.queues.consume_from or worker.app.amqp.queues)
        self.beat(worker.hostname, queues)
        self.take_back(worker.hostname)
        self.timer_ref = worker.timer.call_repeatedly(
            settings.WORKER_HEARTBEAT_SECONDS, self.beat, (worker.hostname, queues), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.timer_ref is not None:
            self.timer_ref.cancel()
        self.forget(worker.hostname)

    def beat(self, hostname: str, queues: list[str]) -> None:
        # models exist only once apps are loaded; config.celery imports this module while the settings load
        from training.models import WorkerHeartbeat

        try:
            close_old_connections()
            WorkerHeartbeat.record(hostname, queues, pid=os.getpid(), info=_device_info())
        except Exception:  # a missed beat must never kill the worker; the next one retries
            log.exception("Could not record the worker heartbeat")

    def take_back(self, hostname: str) -> None:
        """Requeue the jobs a previous process of this worker held (it was killed or restarted): they resume now
        rather than once their heartbeat goes stale."""
        # it imports models, which exist only once apps are loaded; config.celery loads this module early
        from jobs.lifecycle import recover_jobs_of

        try:
            found = recover_jobs_of(hostname)
        except Exception:  # the watchdog catches them later anyway
            log.exception("Could not requeue the jobs this worker held before it restarted")
            return
        for label in found.requeued:
            log.warning("%s was held by a previous process of %s; sent back to the queue", label, hostname)

    def forget(self, hostname: str) -> None:
        # models exist only once apps are loaded; config.celery imports this module while the settings load
        from training.models import WorkerHeartbeat

        try:
            WorkerHeartbeat.objects.filter(hostname=hostname).delete()
        except Exception:
            log.exception("Could not remove the worker heartbeat")


def _device_info() -> dict[str, Any]:
    """What accelerator this worker has, without importing torch in the web process."""
    if "torch" not in sys.modules and importlib.util.find_spec("torch") is None:
        return {"device": "cpu"}
    if "torch" not in sys.modules:
        # Importing torch costs seconds; report the CPU until a task has loaded it.
        return {"device": "cpu (torch not loaded yet)"}
    torch = sys.modules["torch"]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        return {"device": "cuda", "gpu_name": props.name, "gpu_memory_bytes": int(props.total_memory)}
    return {"device": "cpu"}
