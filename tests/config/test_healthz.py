import time

import pytest
from django.test import Client

from training.models import WorkerHeartbeat

TOKEN = "a-monitor-token-of-32-characters"


@pytest.fixture
def operator_client(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.mark.django_db
def test_healthz_reports_503_and_names_the_queues_without_workers(operator_client: Client):
    response = operator_client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] and body["broker"]["ok"] and body["channel_layer"]["ok"]
    assert body["queues"]["cpu"]["ok"] is False
    assert "No worker has served the 'cpu' queue" in body["queues"]["cpu"]["error"]


@pytest.mark.django_db
def test_healthz_treats_a_worker_that_stopped_beating_as_down(operator_client: Client):
    WorkerHeartbeat.record("old@host", ["cpu", "gpu"], pid=1, info={})
    WorkerHeartbeat.objects.update(last_seen=WorkerHeartbeat.objects.get().last_seen.replace(year=2020))
    body = operator_client.get("/healthz").json()
    assert body["queues"]["gpu"]["ok"] is False
    assert body["queues"]["gpu"]["last_heartbeat"].startswith("2020-")


@pytest.mark.django_db
def test_healthz_reports_a_broker_that_is_down(client: Client, settings, tmp_path):
    from config.redis import RedisEndpoint

    dead = RedisEndpoint(url=None, socket_path=tmp_path / "nobody.sock")
    settings.REDIS = dead
    settings.CELERY_BROKER_URL = dead.celery_url
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["broker"] == "down"


@pytest.mark.django_db
def test_anonymous_visitors_see_only_whether_each_part_is_up(client: Client, settings):
    WorkerHeartbeat.record("gpu-box-7.internal", ["gpu"], pid=1, info={})

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json() == {"status": "down", "database": "ok", "broker": "ok", "channel_layer": "ok",
                               "queues": {"cpu": "down", "gpu": "ok"}}
    text = response.content.decode()
    assert "gpu-box-7.internal" not in text and "redis" not in text.lower() and "sock" not in text


@pytest.mark.django_db
def test_a_creator_signed_in_sees_no_more_than_an_anonymous_visitor(maya: Client):
    assert maya.get("/healthz").json()["queues"] == {"cpu": "down", "gpu": "down"}


@pytest.mark.django_db
def test_a_monitor_with_the_healthz_token_reads_the_details(client: Client, settings):
    settings.HEALTHZ_TOKEN = TOKEN
    WorkerHeartbeat.record("gpu-box-7.internal", ["gpu"], pid=1, info={})

    detailed = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    wrong = client.get("/healthz", headers={"Authorization": "Bearer not-the-token-at-all"}).json()

    assert detailed["queues"]["gpu"]["workers"] == ["gpu-box-7.internal"]
    assert detailed["broker"]["ok"] and "url" in detailed["broker"]
    assert wrong["queues"]["gpu"] == "ok" and wrong["broker"] == "ok"


@pytest.mark.django_db
def test_without_a_healthz_token_set_no_bearer_reads_the_details(client: Client, settings):
    settings.HEALTHZ_TOKEN = None
    assert client.get("/healthz", headers={"Authorization": "Bearer None"}).json()["broker"] == "ok"
    assert client.get("/healthz", headers={"Authorization": "Bearer "}).json()["broker"] == "ok"


def test_healthz_is_all_up_with_a_real_worker(transactional_db, celery_worker, client: Client, settings):
    settings.HEALTHZ_TOKEN = TOKEN
    deadline = time.monotonic() + 20
    while True:
        response = client.get("/healthz")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert response.status_code == 200, response.json()
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "channel_layer": "ok",
                               "queues": {"cpu": "ok", "gpu": "ok"}}
    body = client.get("/healthz", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert body["status"] == "ok"
    assert body["queues"]["cpu"]["workers"] == [celery_worker.hostname]
    assert body["queues"]["gpu"]["workers"] == [celery_worker.hostname]
