"""The Celery app: task routes and queues come from settings (CELERY_*)."""

from __future__ import annotations

import importlib
import os
from typing import Any

from celery import Celery
from celery.signals import worker_init
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

# What a training run and a generation import (torch, diffusers' LTX-2 pipeline, transformers' text encoders).
ENGINE_MODULES = ("engine.train", "engine.sample", "engine.inference", "engine.pipeline", "transformers")


@worker_init.connect
def _import_the_engine_before_the_pool_forks(sender: Any, **_: Any) -> None:
    """A worker that takes gpu jobs imports the engine once, in the parent: the pool's processes are forked from it
    and share the imported modules, so a creator's first run or generation does not wait for the imports (about 5 s
    of CPU each). Only imports: no thread pool or GPU is started before the fork."""
    # Django's settings are read here, once the worker has configured Django, not when this module is imported.
    from django.conf import settings

    queues = set(sender.app.amqp.queues.consume_from or ())
    if "gpu" in queues and settings.WORKER_PRELOAD_ENGINE:
        for name in ENGINE_MODULES:
            importlib.import_module(name)
