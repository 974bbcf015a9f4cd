"""Prometheus metrics: what an operator's scraper reads, from the real database and broker.

Every scrape is read back with prometheus_client's own parser, as Prometheus would read it: the text must be
valid exposition format, and the numbers are checked per series (name and labels), not per line of text.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import prometheus_client
import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from config.redis import RedisEndpoint
from operators import broker
from operators.metrics import render
from tests.factories import make_run
from training.models import TrainingRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db

TOKEN = "a-scraper-token-of-32-characters"

Series = tuple[str, frozenset[tuple[str, str]]]

# Every metric the dashboards and alerts of docs/deploy.md name: these exact series names, all gauges.
GAUGES = {
    "iclora_training_runs", "iclora_studio_generations", "iclora_training_steps", "iclora_broker_up",
    "iclora_queue_waiting_tasks", "iclora_worker_heartbeat_age_seconds", "iclora_queue_live_workers",
    "iclora_creators", "iclora_datasets", "iclora_adapters", "iclora_uploaded_bytes",
}


def series(name: str, **labels: str) -> Series:
    return name, frozenset(labels.items())


def parse(text: str) -> dict[Series, float]:
    """Each series' value, parsed by prometheus_client (which raises on text Prometheus could not read)."""
    return {series(sample.name, **sample.labels): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def idle_queue(settings):
    """A queue no worker consumes, as the only queue the metrics look at; its lists are removed afterwards."""
    name = f"metrics-test-{uuid.uuid4().hex[:8]}"
    settings.WORKER_QUEUES = (name,)
    yield name
    settings.REDIS.client().delete(*broker.priority_keys(name).values())


def scrape(client: Client, **headers: str) -> dict[Series, float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.content
    # The content type of the format generate_latest writes, which Prometheus reads as its text format.
    assert response["Content-Type"] == prometheus_client.CONTENT_TYPE_LATEST
    assert response["Content-Type"].startswith("text/plain; version=")
    return parse(response.content.decode())


def test_an_operator_reads_runs_by_state_waiting_tasks_and_data(client: Client, operator, creator, idle_queue):
    from training.tasks import train_run

    make_run(creator, state=TrainingRun.State.QUEUED)
    make_run(creator, state=TrainingRun.State.SUCCEEDED, step=120)
    for _ in range(2):
        train_run.apply_async(args=[1], queue=idle_queue)
    client.force_login(operator)

    shown = scrape(client)

    assert shown[series("iclora_training_runs", state="queued")] == 1
    assert shown[series("iclora_training_runs", state="succeeded")] == 1
    assert shown[series("iclora_training_runs", state="failed")] == 0  # every state, so no series vanishes
    assert {labels for name, labels in shown if name == "iclora_training_runs"} == {
        frozenset({("state", state)}) for state in TrainingRun.State.values}
    assert shown[series("iclora_training_steps")] == 120
    assert shown[series("iclora_broker_up")] == 1
    assert shown[series("iclora_queue_waiting_tasks", queue=idle_queue)] == 2
    assert shown[series("iclora_creators")] == 2
    assert shown[series("iclora_datasets")] == 2 and shown[series("iclora_adapters")] == 0  # a dataset per run
    assert shown[series("iclora_uploaded_bytes")] == 0


def test_every_metric_keeps_its_name_and_is_a_gauge_so_dashboards_keep_their_series(idle_queue):
    WorkerHeartbeat.objects.create(hostname="gpu-1", queues=[idle_queue])

    text = render().decode()
    families = {family.name: family.type for family in text_string_to_metric_families(text)}

    assert families == dict.fromkeys(GAUGES, "gauge")  # nothing else either: no process or Python metrics
    assert {name for name, _ in parse(text)} == GAUGES  # no `_total` or other suffix on any series
    assert "# TYPE iclora_training_steps gauge\niclora_training_steps 0.0\n" in text


def test_workers_show_their_heartbeat_age_and_each_queue_its_live_workers(settings):
    settings.WORKER_QUEUES, settings.WORKER_STALE_SECONDS = ("cpu", "gpu"), 45
    now = timezone.now()
    WorkerHeartbeat.objects.create(hostname="gpu-1", queues=["gpu"], last_seen=now - timedelta(seconds=5))
    WorkerHeartbeat.objects.create(hostname="gpu-2", queues=["gpu", "cpu"], last_seen=now - timedelta(seconds=90.5))

    shown = parse(render(now).decode())

    assert shown[series("iclora_worker_heartbeat_age_seconds", worker="gpu-1", queues="gpu")] == 5
    assert shown[series("iclora_worker_heartbeat_age_seconds", worker="gpu-2", queues="cpu,gpu")] == 90.5
    assert shown[series("iclora_queue_live_workers", queue="gpu")] == 1
    assert shown[series("iclora_queue_live_workers", queue="cpu")] == 0


def test_a_broker_that_does_not_answer_is_a_metric_not_a_failed_scrape(client: Client, operator, settings):
    settings.REDIS = RedisEndpoint(url=None, socket_path=Path("/nonexistent/redis.sock"))
    client.force_login(operator)

    shown = scrape(client)

    assert shown[series("iclora_broker_up")] == 0
    assert not any(name == "iclora_queue_waiting_tasks" for name, _ in shown)
    assert shown[series("iclora_training_runs", state="queued")] == 0


def test_a_scraper_needs_the_token_and_creators_never_see_the_numbers(client: Client, creator, settings):
    settings.METRICS_TOKEN = TOKEN

    assert scrape(client, Authorization=f"Bearer {TOKEN}")[series("iclora_creators")] == 1
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
    client.force_login(creator)
    as_creator = client.get("/metrics")

    assert wrong.status_code == 401 and wrong["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert as_creator.status_code == 401 and b"METRICS_TOKEN" in as_creator.content


def test_without_a_token_configured_no_bearer_gets_in(client: Client, settings):
    settings.METRICS_TOKEN = None

    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code == 401


def test_a_worker_name_with_quotes_newlines_and_backslashes_reads_back_unchanged(settings):
    settings.WORKER_QUEUES = ("gpu",)
    now = timezone.now()
    odd = 'a "b"\nc\\d'
    WorkerHeartbeat.objects.create(hostname=odd, queues=["gpu"], last_seen=now - timedelta(seconds=1.5))

    text = render(now).decode()

    assert 'worker="a \\"b\\"\\nc\\\\d"' in text  # escaped on one line, as the format requires
    assert parse(text)[series("iclora_worker_heartbeat_age_seconds", worker=odd, queues="gpu")] == 1.5


def test_each_scrape_reads_afresh_and_leaves_nothing_in_the_default_registry(creator):
    before = parse(render().decode())[series("iclora_training_runs", state="queued")]
    make_run(creator, state=TrainingRun.State.QUEUED)

    after = parse(render().decode())[series("iclora_training_runs", state="queued")]

    assert (before, after) == (0, 1)
    default = {family.name for family in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("iclora_") for name in default)
