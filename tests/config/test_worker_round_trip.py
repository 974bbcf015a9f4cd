"""A view enqueues tasks; the real worker runs them through the real broker; the answers reach a
websocket client of the web process through the Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application

ORIGIN = (b"origin", b"http://127.0.0.1")


def _cookie_header(client: Client) -> tuple[bytes, bytes]:
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


def test_a_probe_sent_from_the_view_comes_back_over_the_websocket(transactional_db, celery_worker, operator):
    client = Client()
    client.force_login(operator)

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(application, "/ws/ops/", headers=[ORIGIN, _cookie_header(client)])
        connected, _ = await communicator.connect(timeout=5)
        assert connected
        response = await sync_to_async(client.post)("/ops/system-check/", HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        probe_id = response.content.decode().split('data-probe-id="')[1].split('"')[0]
        answers = [await communicator.receive_json_from(timeout=30) for _ in range(2)]
        await communicator.disconnect()
        assert {answer["probe_id"] for answer in answers} == {probe_id}
        return answers

    answers = async_to_sync(scenario)()
    assert sorted(answer["queue"] for answer in answers) == ["cpu", "gpu"]
    assert all(answer["latency_ms"] >= 0 for answer in answers)


@pytest.mark.django_db(transaction=True)
def test_the_ops_websocket_refuses_creators(creator):
    client = Client()
    client.force_login(creator)

    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, "/ws/ops/", headers=[ORIGIN, _cookie_header(client)])
        connected, _ = await communicator.connect(timeout=5)
        await communicator.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db
def test_the_system_check_page_is_for_operators_only(client: Client, creator, operator):
    client.force_login(creator)
    assert client.get("/ops/system-check/").status_code == 302
    client.force_login(operator)
    page = client.get("/ops/system-check/")
    assert page.status_code == 200
    assert b"Test the workers" in page.content
