"""Checks behind GET /healthz: each returns (ok, detail) and never raises."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.utils import timezone

from config.celery import app
from training.models import WorkerHeartbeat

Check = dict[str, Any]


def check_database() -> Check:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as error:
        return {"ok": False, "error": str(error)}


def check_broker() -> Check:
    try:
        with app.connection_for_write(url=settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        where = settings.REDIS.describe() if settings.REDIS.embedded else _redact(settings.REDIS.url)
        return {"ok": True, "url": where}
    except Exception as error:
        return {"ok": False, "error": str(error)}


def check_channel_layer() -> Check:
    layer = get_channel_layer()
    if layer is None:
        return {"ok": False, "error": "No channel layer is configured."}

    async def round_trip() -> None:
        channel = await layer.new_channel()
        await layer.send(channel, {"type": "health.ping"})
        await asyncio.wait_for(layer.receive(channel), timeout=2)

    try:
        async_to_sync(round_trip)()
        return {"ok": True, "backend": type(layer).__name__}
    except Exception as error:
        return {"ok": False, "error": str(error) or type(error).__name__}


def check_queues() -> dict[str, Check]:
    stale_before = timezone.now() - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    heartbeats = list(WorkerHeartbeat.objects.order_by("-last_seen"))
    result: dict[str, Check] = {}
    for queue in settings.WORKER_QUEUES:
        serving = [beat for beat in heartbeats if queue in beat.queues]
        live = [beat for beat in serving if beat.last_seen >= stale_before]
        result[queue] = {
            "ok": bool(live),
            "workers": [beat.hostname for beat in live],
            "last_heartbeat": serving[0].last_seen.isoformat() if serving else None,
        }
        if not live:
            result[queue]["error"] = (
                f"No worker has served the '{queue}' queue in the last {settings.WORKER_STALE_SECONDS} s."
            )
    return result


def overall() -> tuple[bool, dict[str, Any]]:
    report: dict[str, Any] = {
        "database": check_database(),
        "broker": check_broker(),
        "channel_layer": check_channel_layer(),
    }
    report["queues"] = check_queues() if report["database"]["ok"] else {
        queue: {"ok": False, "error": "Database is down."} for queue in settings.WORKER_QUEUES
    }
    ok = all(part["ok"] for key, part in report.items() if key != "queues")
    ok = ok and all(queue["ok"] for queue in report["queues"].values())
    return ok, report


def statuses(report: dict[str, Any]) -> dict[str, Any]:
    """`overall`'s report with each check as a word, "ok" or "down": the rest names socket paths, worker hosts and
    error texts, which are for operators only."""

    def word(check: Check) -> str:
        return "ok" if check["ok"] else "down"

    return {key: ({queue: word(check) for queue, check in part.items()} if key == "queues" else word(part))
            for key, part in report.items()}


def _redact(url: str | None) -> str:
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url
