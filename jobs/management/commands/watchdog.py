"""`manage.py watchdog`: the job watchdog, in a process of its own.

It must not run inside a Celery worker (a frozen or dead worker would take its own watchdog with it), nor as a
task that beat sends (that needs the broker and a live worker to run it): it reads the database directly, and
only needs the broker to send a recovered job back to the queue.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from jobs.lifecycle import recover_lost_jobs

log = logging.getLogger("jobs.watchdog")


class Command(BaseCommand):
    help = "Requeue jobs whose worker went silent, every WATCHDOG_SECONDS, until stopped."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="look once and exit")

    def handle(self, *args: Any, once: bool = False, **options: Any) -> None:
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, request_stop)
        signal.signal(signal.SIGINT, request_stop)
        self.stdout.write(f"Job watchdog: looking every {settings.WATCHDOG_SECONDS} s for jobs whose worker went "
                          f"silent for {settings.WORKER_STALE_SECONDS} s.")
        while True:
            try:
                found = recover_lost_jobs()
                for label in found.requeued:
                    self.stdout.write(f"{label}: its worker went silent; sent back to the queue.")
                for label in found.stopped:
                    self.stdout.write(f"{label}: stopped as asked (its worker had gone silent).")
                for label in found.failed:
                    self.stdout.write(f"{label}: lost its worker too often; failed.")
            except Exception:  # the database or broker away for a moment: look again next time
                log.exception("The job watchdog could not look at the jobs")
            if once or stop.wait(settings.WATCHDOG_SECONDS):
                return
            close_old_connections()  # a database restart between passes costs one pass, not the process
