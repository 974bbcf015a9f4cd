"""Numbers for Prometheus: runs, generations, queues, workers and data.

Everything is read from the database and the broker at scrape time, so any web replica answers the same and
nothing is kept in process memory. A broker that does not answer is reported as `iclora_broker_up 0`, never as a
failed scrape: an operator still sees the rest.

The text is written by prometheus_client: `StudioCollector` yields metric families, and each scrape registers it
on a `CollectorRegistry` of its own (never the process-wide default registry, so nothing is shared between
scrapes, tests or Django's own processes) and renders it with `generate_latest`, in the format `CONTENT_TYPE`
names. Every metric is a gauge: each counts what exists now (runs, the steps of the runs still recorded, bytes),
which goes down when things are deleted. A gauge also keeps the series names dashboards use: a counter family
would be written as `<name>_total`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from accounts.models import User
from datasets.models import Dataset, DatasetFile
from operators.broker import BrokerUnavailable, queue_lengths
from studio.models import Adapter, Generation
from training.models import TrainingRun, WorkerHeartbeat

CONTENT_TYPE = CONTENT_TYPE_LATEST  # the text format generate_latest writes, with its version and charset


class StudioCollector(Collector):
    """Every metric, read afresh on each collect(). `now` is fixed only by tests (heartbeat ages)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now or timezone.now()
        yield from _jobs()
        yield from _queues()
        yield from _workers(now)
        yield from _data()


def render(now: datetime | None = None) -> bytes:
    """One scrape's exposition text, from a registry made for it alone."""
    registry = CollectorRegistry()
    registry.register(StudioCollector(now))
    return generate_latest(registry)


def _jobs() -> list[Metric]:
    runs = GaugeMetricFamily("iclora_training_runs", "Training runs by state.", labels=["state"])
    _by_state(runs, TrainingRun.objects.values_list("state").annotate(n=Count("pk")), TrainingRun.State.values)
    generations = GaugeMetricFamily("iclora_studio_generations", "Studio generations by state.", labels=["state"])
    _by_state(generations, Generation.objects.values_list("state").annotate(n=Count("pk")), Generation.State.values)
    steps = TrainingRun.objects.aggregate(total=Sum("step"))["total"] or 0
    # A gauge, not a counter: deleting a run lowers it (and a counter would be named iclora_training_steps_total).
    return [runs, generations,
            GaugeMetricFamily("iclora_training_steps", "Optimizer steps done by all runs still recorded.", value=steps)]


def _by_state(metric: GaugeMetricFamily, counts: Iterable[tuple[str, int]], states: Iterable[str]) -> None:
    found = dict(counts)
    for state in states:  # every state, zeros included, so a series never vanishes
        metric.add_metric([state], found.get(state, 0))


def _queues() -> list[Metric]:
    up = GaugeMetricFamily("iclora_broker_up", "1 when the broker (Redis) answered this scrape.")
    waiting = GaugeMetricFamily("iclora_queue_waiting_tasks", "Tasks waiting on the broker per queue, not yet taken.",
                                labels=["queue"])
    try:
        lengths = queue_lengths(timeout=1.0)
    except BrokerUnavailable:
        up.add_metric([], 0)
        return [up]
    for length in lengths:
        waiting.add_metric([length.queue], length.waiting)
    up.add_metric([], 1)
    return [up, waiting]


def _workers(now: datetime) -> list[Metric]:
    age = GaugeMetricFamily("iclora_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.",
                            labels=["worker", "queues"])
    live = GaugeMetricFamily("iclora_queue_live_workers", "Workers serving each queue with a recent heartbeat.",
                             labels=["queue"])
    stale_before = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    beats = list(WorkerHeartbeat.objects.order_by("hostname"))
    for beat in beats:
        age.add_metric([beat.hostname, ",".join(sorted(beat.queues))], round((now - beat.last_seen).total_seconds(), 3))
    for queue in settings.WORKER_QUEUES:
        live.add_metric([queue], sum(1 for b in beats if queue in b.queues and b.last_seen >= stale_before))
    return [age, live]


def _data() -> list[Metric]:
    uploaded = DatasetFile.objects.aggregate(total=Sum("size"))["total"] or 0
    return [
        GaugeMetricFamily("iclora_creators", "Accounts that can sign in.",
                          value=User.objects.filter(is_active=True).count()),
        GaugeMetricFamily("iclora_datasets", "Datasets of all creators.", value=Dataset.objects.count()),
        GaugeMetricFamily("iclora_adapters", "Adapters trained or uploaded.", value=Adapter.objects.count()),
        GaugeMetricFamily("iclora_uploaded_bytes", "Bytes of uploaded dataset files.", value=uploaded),
    ]
