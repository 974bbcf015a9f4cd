from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from studio.generation import generation_group
from studio.models import Generation


@database_sync_to_async
def _current(user: Any, generation_id: int) -> dict[str, Any] | None:
    if user is None or not user.is_authenticated:
        return None
    generations = Generation.objects.filter(pk=generation_id)
    if not user.is_staff:
        generations = generations.filter(owner=user)
    found = generations.values("pk", "state", "progress").first()
    return {"id": found["pk"], "state": found["state"], "progress": found["progress"]} if found else None


class GenerationConsumer(AsyncJsonWebsocketConsumer):
    """Tells a generation's owner (or an operator) when its state or progress changes.

    Sends the current state on connect, then every update the worker pushes; the page re-reads the
    details from the database, so a missed message is harmless.
    """

    async def connect(self) -> None:
        self.generation_id = int(self.scope["url_route"]["kwargs"]["generation_id"])
        current = await _current(self.scope.get("user"), self.generation_id)
        if current is None:
            await self.close(code=4404)
            return
        await self.channel_layer.group_add(generation_group(self.generation_id), self.channel_name)
        await self.accept()
        await self.send_json(current)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "generation_id"):
            await self.channel_layer.group_discard(generation_group(self.generation_id), self.channel_name)

    async def generation_update(self, event: dict[str, Any]) -> None:
        await self.send_json({key: value for key, value in event.items() if key != "type"})
