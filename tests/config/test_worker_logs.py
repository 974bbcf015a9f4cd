"""A worker's log keeps what matters: routine lines about periodic housekeeping are left out."""

import logging

import pytest
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS

from config.celery import QuietHousekeeping, _quiet_housekeeping

pytestmark = pytest.mark.backend_free


def _record(logger: str, level: int, msg: str, args: object) -> logging.LogRecord:
    return logging.getLogger(logger).makeRecord(logger, level, __file__, 1, msg, args, None)  # type: ignore[arg-type]


def _task(name: str) -> dict:
    return {"id": "5f1c", "name": name, "return_value": None, "runtime": 0.002, "args": "()", "kwargs": "{}"}


def test_routine_lines_about_the_watchdog_are_left_out():
    keep = QuietHousekeeping().filter
    assert not keep(_record("celery.worker.strategy", logging.INFO, LOG_RECEIVED, _task("training.tasks.watchdog")))
    assert not keep(_record("celery.app.trace", logging.INFO, LOG_SUCCESS, _task("training.tasks.watchdog")))
    assert not keep(_record("celery.beat", logging.INFO, "Scheduler: Sending due task %s (%s)",
                            ("requeue-lost-runs", "training.tasks.watchdog")))


def test_lines_about_other_tasks_and_the_watchdogs_failures_stay():
    keep = QuietHousekeeping().filter
    assert keep(_record("celery.app.trace", logging.INFO, LOG_SUCCESS, _task("training.tasks.train_run")))
    assert keep(_record("celery.app.trace", logging.ERROR, "Task %(name)s[%(id)s] raised unexpected: boom",
                        _task("training.tasks.watchdog")))
    assert keep(_record("training.watchdog", logging.INFO, "Requeued run %s (training.tasks.watchdog)", (7,)))


def test_the_filter_goes_on_every_handler_of_the_workers_logger():
    logger = logging.Logger("celery-root-under-test")
    logger.addHandler(logging.StreamHandler())
    _quiet_housekeeping(logger=logger)
    assert all(any(isinstance(f, QuietHousekeeping) for f in h.filters) for h in logger.handlers)
