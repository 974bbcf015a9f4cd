from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from training.events import events_after, run_group
from training.models import TrainingRun

# The database's largest integer: a larger `after` would make the query fail instead of finding nothing.
MAX_SEQ = 2**63 - 1


def _after(query_string: bytes) -> int:
    """The `after` a client sent: the sequence number of the last event it has. Anything else (missing, not a
    whole number, negative, beyond MAX_SEQ) counts as none, so the client gets the whole history: the page drops
    events it already shows by `seq`."""
    # latin-1 maps every byte, so a client sending raw non-UTF-8 bytes cannot make decoding fail.
    sent = parse_qs(query_string.decode("latin-1")).get("after", [""])[0]
    try:
        after = int(sent)
    except ValueError:
        return 0
    return after if 0 <= after <= MAX_SEQ else 0


@database_sync_to_async
def _may_watch(user: Any, run_id: int) -> bool:
    if user is None or not user.is_authenticated:
        return False
    runs = TrainingRun.objects.filter(pk=run_id)
    return runs.exists() if user.is_staff else runs.filter(owner=user).exists()


class RunConsumer(AsyncJsonWebsocketConsumer):
    """Streams a run's events to its owner (or an operator).

    On connect the client says the last event it has (`?after=SEQ`); it gets everything newer from
    the database, then live events. Joining the group first means nothing falls in between; the
    client drops duplicates by `seq`.
    """

    async def connect(self) -> None:
        self.run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if not await _may_watch(self.scope.get("user"), self.run_id):
            await self.close(code=4404)
            return
        await self.channel_layer.group_add(run_group(self.run_id), self.channel_name)
        await self.accept()
        after = _after(self.scope.get("query_string", b""))
        for message in await database_sync_to_async(events_after)(self.run_id, after):
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "run_id"):
            await self.channel_layer.group_discard(run_group(self.run_id), self.channel_name)

    async def run_event(self, event: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in event.items() if key != "type"})
