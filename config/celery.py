"""The Celery app: task routes and queues come from settings (CELERY_*)."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

from config.heartbeat import HeartbeatStep
from config.redis import use_broker_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# Before any broker connection: a worker must survive a Redis restart (see config.redis.BrokerChannel).
use_broker_transport()
app = Celery("iclora")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(name, Exchange(name), routing_key=name) for name in ("cpu", "gpu")]
app.autodiscover_tasks(["config", "datasets", "training", "studio", "prep"])


def _install_worker_steps() -> None:
    app.steps["worker"].add(HeartbeatStep)


_install_worker_steps()
