import time

import pytest
from django.test import Client

from training.models import WorkerHeartbeat


@pytest.mark.django_db
def test_healthz_reports_503_and_names_the_queues_without_workers(client: Client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["database"]["ok"] and body["broker"]["ok"] and body["channel_layer"]["ok"]
    assert body["queues"]["cpu"]["ok"] is False
    assert "No worker has served the 'cpu' queue" in body["queues"]["cpu"]["error"]


@pytest.mark.django_db
def test_healthz_treats_a_worker_that_stopped_beating_as_down(client: Client, settings):
    WorkerHeartbeat.record("old@host", ["cpu", "gpu"], pid=1, info={})
    WorkerHeartbeat.objects.update(last_seen=WorkerHeartbeat.objects.get().last_seen.replace(year=2020))
    body = client.get("/healthz").json()
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
    assert response.json()["broker"]["ok"] is False


def test_healthz_is_all_up_with_a_real_worker(transactional_db, celery_worker, client: Client):
    deadline = time.monotonic() + 20
    while True:
        response = client.get("/healthz")
        if response.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["queues"]["cpu"]["workers"] == [celery_worker.hostname]
    assert body["queues"]["gpu"]["workers"] == [celery_worker.hostname]
