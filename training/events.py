"""The one progress path: record an event in the database, then push it to the run's group.

The database is the truth. The push is best effort: if Redis is briefly away the page still
catches up from the database when it reconnects.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import Max

from training.models import RunEvent, TrainingRun

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def record_event(run_id: int, kind: str, payload: dict[str, Any]) -> RunEvent:
    with transaction.atomic():
        # Lock the run row so concurrent writers get consecutive sequence numbers.
        run = TrainingRun.objects.select_for_update().only("pk").get(pk=run_id)
        last = run.events.aggregate(last=Max("seq"))["last"] or 0
        event = RunEvent.objects.create(run=run, seq=last + 1, kind=kind, payload=payload)
    transaction.on_commit(lambda: push(event))
    return event


def push(event: RunEvent) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": "run.event", **event.as_message()}
    for attempt in (1, 2):  # a second try gets a fresh connection after a Redis restart
        try:
            async_to_sync(layer.group_send)(run_group(event.run_id), message)
            return
        except Exception:
            if attempt == 2:
                log.warning("Could not push event %s of run %s; the page will catch up from the database",
                            event.seq, event.run_id, exc_info=True)


def events_after(run_id: int, seq: int) -> list[dict[str, Any]]:
    return [event.as_message() for event in RunEvent.objects.filter(run_id=run_id, seq__gt=seq).order_by("seq")]
