"""Numbers for Prometheus (text exposition format 0.0.4): runs, generations, queues, workers and data.

Everything is read from the database and the broker at scrape time, so any web replica answers the same and
nothing is kept in process memory. A broker that does not answer is reported as `iclora_broker_up 0`, never as a
failed scrape: an operator still sees the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count, Sum
from django.utils import timezone


@dataclass
class Metric:
    name: str
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)
    kind: str = "gauge"

    def add(self, value: float, **labels: str) -> Metric:
        self.samples.append((labels, value))
        return self


def collect(now: datetime | None = None) -> list[Metric]:
    now = now or timezone.now()
    return [*_jobs(), *_queues(), *_workers(now), *_data()]


def _jobs() -> list[Metric]:
    from studio.models import Generation
    from training.models import TrainingRun

    runs = Metric("iclora_training_runs", "Training runs by state.")
    _by_state(runs, TrainingRun.objects.values_list("state").annotate(n=Count("pk")), TrainingRun.State.values)
    generations = Metric("iclora_studio_generations", "Studio generations by state.")
    _by_state(generations, Generation.objects.values_list("state").annotate(n=Count("pk")), Generation.State.values)
    steps = TrainingRun.objects.aggregate(total=Sum("step"))["total"] or 0
    return [runs, generations,
            Metric("iclora_training_steps", "Optimizer steps done by all runs still recorded.").add(steps)]


def _by_state(metric: Metric, counts: Iterable[tuple[str, int]], states: Iterable[str]) -> None:
    found = dict(counts)
    for state in states:  # every state, zeros included, so a series never vanishes
        metric.add(found.get(state, 0), state=state)


def _queues() -> list[Metric]:
    from operators.broker import BrokerUnavailable, queue_lengths

    up = Metric("iclora_broker_up", "1 when the broker (Redis) answered this scrape.")
    waiting = Metric("iclora_queue_waiting_tasks", "Tasks waiting on the broker per queue, not yet taken.")
    try:
        lengths = queue_lengths(timeout=1.0)
    except BrokerUnavailable:
        return [up.add(0)]
    for length in lengths:
        waiting.add(length.waiting, queue=length.queue)
    return [up.add(1), waiting]


def _workers(now: datetime) -> list[Metric]:
    from training.models import WorkerHeartbeat

    age = Metric("iclora_worker_heartbeat_age_seconds", "Seconds since each worker's last heartbeat.")
    live = Metric("iclora_queue_live_workers", "Workers serving each queue with a recent heartbeat.")
    stale_before = now - timedelta(seconds=settings.WORKER_STALE_SECONDS)
    beats = list(WorkerHeartbeat.objects.order_by("hostname"))
    for beat in beats:
        age.add(round((now - beat.last_seen).total_seconds(), 3), worker=beat.hostname,
                queues=",".join(sorted(beat.queues)))
    for queue in settings.WORKER_QUEUES:
        live.add(sum(1 for b in beats if queue in b.queues and b.last_seen >= stale_before), queue=queue)
    return [age, live]


def _data() -> list[Metric]:
    from accounts.models import User
    from studio.models import Adapter
    from wizard.models import Dataset, DatasetFile

    uploaded = DatasetFile.objects.aggregate(total=Sum("size"))["total"] or 0
    return [
        Metric("iclora_creators", "Accounts that can sign in.").add(User.objects.filter(is_active=True).count()),
        Metric("iclora_datasets", "Datasets of all creators.").add(Dataset.objects.count()),
        Metric("iclora_adapters", "Adapters trained or uploaded.").add(Adapter.objects.count()),
        Metric("iclora_uploaded_bytes", "Bytes of uploaded dataset files.").add(uploaded),
    ]


def render(metrics: Iterable[Metric]) -> str:
    lines = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        for labels, value in metric.samples:
            shown = ",".join(f'{key}="{_escape(str(text))}"' for key, text in labels.items())
            lines.append(f"{metric.name}{{{shown}}} {_number(value)}" if shown else f"{metric.name} {_number(value)}")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))
