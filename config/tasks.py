"""Operator self-test: one tiny task per queue proves that web → broker → worker → channel layer works."""

from __future__ import annotations

import socket
import time

from asgiref.sync import async_to_sync
from celery import shared_task
from channels.layers import get_channel_layer

OPS_GROUP = "ops"


def _answer(probe_id: str, queue: str, sent_at: float) -> None:
    layer = get_channel_layer()
    assert layer is not None
    async_to_sync(layer.group_send)(
        OPS_GROUP,
        {
            "type": "probe.result",
            "probe_id": probe_id,
            "queue": queue,
            "worker": socket.gethostname(),
            "latency_ms": round((time.time() - sent_at) * 1000, 1),
        },
    )


@shared_task(name="config.tasks.probe_cpu")
def probe_cpu(probe_id: str, sent_at: float) -> None:
    _answer(probe_id, "cpu", sent_at)


@shared_task(name="config.tasks.probe_gpu")
def probe_gpu(probe_id: str, sent_at: float) -> None:
    _answer(probe_id, "gpu", sent_at)
