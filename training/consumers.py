from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from training.events import events_after, run_group
from training.models import TrainingRun


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
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = int(query.get("after", ["0"])[0] or 0)
        for message in await database_sync_to_async(events_after)(self.run_id, after):
            await self.send_json(message)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "run_id"):
            await self.channel_layer.group_discard(run_group(self.run_id), self.channel_name)

    async def run_event(self, event: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in event.items() if key != "type"})
