"""The one progress path: events land in the database in order and reach the run's websocket."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from tests.factories import make_run
from training.events import events_after, record_event
from training.models import RunEvent

ORIGIN = (b"origin", b"http://127.0.0.1")


def _headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [ORIGIN, (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


@pytest.mark.django_db
def test_events_get_consecutive_sequence_numbers(creator):
    run = make_run(creator)
    seqs = [record_event(run.pk, RunEvent.Kind.LOG, {"message": f"line {i}"}).seq for i in range(3)]
    assert seqs == [1, 2, 3]
    assert [event["seq"] for event in events_after(run.pk, 1)] == [2, 3]


@pytest.mark.django_db(transaction=True)
def test_a_watcher_gets_the_history_then_live_events(creator):
    run = make_run(creator)
    record_event(run.pk, RunEvent.Kind.STATE, {"state": "queued", "message": "Waiting for a GPU"})
    record_event(run.pk, RunEvent.Kind.LOG, {"message": "first line"})
    headers = _headers(creator)

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?after=1", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        history = await communicator.receive_json_from(timeout=5)
        from channels.db import database_sync_to_async

        await database_sync_to_async(record_event)(run.pk, RunEvent.Kind.PROGRESS, {"step": 5, "loss": 0.5})
        live = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return [history, live]

    history, live = async_to_sync(scenario)()
    assert (history["seq"], history["payload"]["message"]) == (2, "first line")
    assert (live["seq"], live["kind"], live["payload"]["step"]) == (3, "progress", 5)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("after", ["abc", "-5", "2.5", "99999999999999999999999", "%FF", ""])
def test_a_watcher_sending_an_after_that_is_not_an_event_number_gets_the_whole_history(creator, after):
    run = make_run(creator)
    record_event(run.pk, RunEvent.Kind.LOG, {"message": "first line"})
    record_event(run.pk, RunEvent.Kind.LOG, {"message": "second line"})
    headers = _headers(creator)

    async def scenario() -> list[int]:
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/?after={after}", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        history = [await communicator.receive_json_from(timeout=5) for _ in range(2)]
        await communicator.disconnect()
        return [event["seq"] for event in history]

    assert async_to_sync(scenario)() == [1, 2]


@pytest.mark.django_db(transaction=True)
def test_another_creator_cannot_watch_a_run(creator, other_creator):
    run = make_run(creator)
    headers = _headers(other_creator)

    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db(transaction=True)
def test_a_watcher_idle_longer_than_redis_read_timeout_still_gets_events(creator):
    run = make_run(creator)
    headers = _headers(creator)

    async def scenario() -> dict:
        import asyncio

        from channels.db import database_sync_to_async

        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        await asyncio.sleep(6.5)  # longer than redis-py's 5 s default read timeout
        await database_sync_to_async(record_event)(run.pk, RunEvent.Kind.LOG, {"message": "after a pause"})
        message = await communicator.receive_json_from(timeout=10)
        await communicator.disconnect()
        return message

    assert async_to_sync(scenario)()["payload"]["message"] == "after a pause"


@pytest.mark.django_db(transaction=True)
def test_a_state_change_is_not_saved_without_the_event_that_announces_it(creator):
    from unittest import mock

    from django.db import DatabaseError

    from training.models import TrainingRun
    from training.runs import transition

    run = make_run(creator)
    refused = mock.patch("training.runs.record_event", side_effect=DatabaseError("disk full"))
    with refused, pytest.raises(DatabaseError):
        transition(run, TrainingRun.State.QUEUED, "Waiting for a GPU worker.")
    run.refresh_from_db()
    assert run.state == TrainingRun.State.DRAFT and run.queued_at is None
    assert not run.events.exists()
