"""Prometheus metrics: what an operator's scraper reads, from the real database and broker."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from config.redis import RedisEndpoint
from operators import broker
from operators.metrics import Metric, collect, render
from tests.factories import make_run
from training.models import TrainingRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db

TOKEN = "a-scraper-token-of-32-characters"


@pytest.fixture
def idle_queue(settings):
    """A queue no worker consumes, as the only queue the metrics look at; its lists are removed afterwards."""
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.WORKER_QUEUES = (name,)
    yield name
    settings.REDIS.client().delete(*broker.priority_keys(name).values())


def lines(client: Client, **headers: str) -> list[str]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    return response.content.decode().splitlines()


def test_an_operator_reads_runs_by_state_waiting_tasks_and_data(client: Client, operator, creator, idle_queue):
    from training.tasks import train_run

    make_run(creator, state=TrainingRun.State.QUEUED)
    make_run(creator, state=TrainingRun.State.SUCCEEDED, step=120)
    for _ in range(2):
        train_run.apply_async(args=[1], queue=idle_queue)
    client.force_login(operator)

    shown = lines(client)

    assert 'iclora_training_runs{state="queued"} 1' in shown
    assert 'iclora_training_runs{state="succeeded"} 1' in shown
    assert 'iclora_training_runs{state="failed"} 0' in shown  # every state, so no series vanishes
    assert "iclora_training_steps 120" in shown
    assert "iclora_broker_up 1" in shown
    assert f'iclora_queue_waiting_tasks{{queue="{idle_queue}"}} 2' in shown
    assert "# TYPE iclora_training_runs gauge" in shown and "iclora_creators 2" in shown


def test_workers_show_their_heartbeat_age_and_each_queue_its_live_workers(settings):
    settings.WORKER_QUEUES, settings.WORKER_STALE_SECONDS = ("cpu", "gpu"), 45
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="gpu-1", queues=["gpu"], last_seen=now - timedelta(seconds=5))
    WorkerHeartbeat.objects.create(hostname="gpu-2", queues=["gpu"], last_seen=now - timedelta(seconds=90))

    shown = render(collect(now)).splitlines()

    assert 'iclora_worker_heartbeat_age_seconds{worker="gpu-1",queues="gpu"} 5' in shown
    assert 'iclora_worker_heartbeat_age_seconds{worker="gpu-2",queues="gpu"} 90' in shown
    assert 'iclora_queue_live_workers{queue="gpu"} 1' in shown
    assert 'iclora_queue_live_workers{queue="cpu"} 0' in shown


def test_a_broker_that_does_not_answer_is_a_metric_not_a_failed_scrape(client: Client, operator, settings):
    settings.REDIS = RedisEndpoint(url=None, socket_path=Path("/nonexistent/redis.sock"))
    client.force_login(operator)

    shown = lines(client)

    assert "iclora_broker_up 0" in shown
    assert not any(line.startswith("iclora_queue_waiting_tasks{") for line in shown)
    assert any(line.startswith("iclora_training_runs{") for line in shown)


def test_a_scraper_needs_the_token_and_creators_never_see_the_numbers(client: Client, creator, settings):
    settings.METRICS_TOKEN = TOKEN

    assert lines(client, Authorization=f"Bearer {TOKEN}")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    client.force_login(creator)
    as_creator = client.get("/metrics")

    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert as_creator.status_code == 401 and b"METRICS_TOKEN" in as_creator.content


def test_without_a_token_configured_no_bearer_gets_in(client: Client, settings):
    settings.METRICS_TOKEN = None

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_label_values_are_escaped():
    metric = Metric("iclora_x", "x").add(1.5, worker='a "b"\nc\\d')

    assert render([metric]).splitlines()[-1] == 'iclora_x{worker="a \\"b\\"\\nc\\\\d"} 1.5'
