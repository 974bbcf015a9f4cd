"""Queue lengths on the real broker and what each worker is doing, merged with heartbeats and jobs."""

import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from config.redis import RedisEndpoint
from operators import broker, workers
from studio.models import Generation
from tests.factories import make_run
from tests.helpers import wait_for
from training.models import TrainingRun, WorkerHeartbeat


@pytest.fixture
def idle_queue():
    """A queue no worker consumes; its lists are removed afterwards."""
    name = f"ops-test-{uuid.uuid4().hex[:8]}"
    yield name
    settings.REDIS.client().delete(*broker.priority_keys(name).values())


def test_it_counts_a_task_enqueued_while_no_worker_consumes_that_queue(idle_queue):
    from training.tasks import train_run

    for priority in (0, 3, 5, 5, 9):
        train_run.apply_async(args=[1], queue=idle_queue, priority=priority)
    [length] = broker.queue_lengths([idle_queue])
    assert length.waiting == 5
    assert length.by_priority == {0: 1, 3: 1, 5: 2, 9: 1}
    # The lists are the transport's own keys, behind this installation's prefix.
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    assert settings.REDIS.client().llen(f"{prefix}{idle_queue}:5") == 2


def test_it_says_the_broker_is_down_instead_of_hanging(settings):
    settings.REDIS = RedisEndpoint(url=None, socket_path=Path("/nonexistent/redis.sock"))
    started = time.monotonic()
    with pytest.raises(broker.BrokerUnavailable, match="did not answer"):
        broker.queue_lengths()
    assert not workers.inspect_workers().asked
    assert time.monotonic() - started < 5


@pytest.mark.django_db
def test_it_links_the_run_and_the_generation_a_worker_holds(creator):
    run = make_run(creator, state=TrainingRun.State.TRAINING, worker="gpu@box1", step=40)
    generation = Generation.objects.create(owner=creator, prompt="a fox", state=Generation.State.QUEUED)
    WorkerHeartbeat.record("gpu@box1", ["gpu"], pid=7, info={"device": "cuda", "gpu_name": "NVIDIA H100",
                                                            "gpu_memory_bytes": 80 * 2**30})
    inspection = workers.Inspection(
        active={"gpu@box1": [{"id": "t1", "name": "training.tasks.train_run", "args": [run.pk],
                              "time_start": time.time() - 90}]},
        reserved={"gpu@box1": [{"id": "t2", "name": "studio.tasks.generate", "args": [generation.pk]}]},
    )
    [row] = workers.worker_rows(inspection)
    assert row.answering and not row.stale and row.device == "NVIDIA H100 (80 GiB)"
    [task] = row.active
    assert task.job is not None and task.job.url == f"/admin/training/trainingrun/{run.pk}/change/"
    assert "step 40/100" in task.job.state
    assert row.jobs == []  # the run the database names is the one it is running: shown once
    [waiting] = row.reserved
    assert waiting.job is not None and waiting.job.url == f"/admin/studio/generation/{generation.pk}/change/"


def test_it_shows_a_real_worker_answering_and_a_silent_one_not(transactional_db, celery_worker, operator, settings,
                                                                idle_queue):
    from training.tasks import train_run

    settings.WORKER_QUEUES = (*settings.WORKER_QUEUES, idle_queue)
    WorkerHeartbeat.record("gpu@gone", ["gpu"], pid=1, info={"device": "cuda", "gpu_name": "NVIDIA L4",
                                                             "gpu_memory_bytes": 24 * 2**30})
    WorkerHeartbeat.objects.filter(hostname="gpu@gone").update(last_seen=timezone.now() - timedelta(minutes=5))
    run = make_run(operator, state=TrainingRun.State.TRAINING, worker="gpu@gone")
    train_run.apply_async(args=[run.pk], queue=idle_queue)
    wait_for(lambda: WorkerHeartbeat.objects.filter(hostname=celery_worker.hostname).exists(), timeout=30)
    client = Client()
    client.force_login(operator)

    def live_row() -> tuple[str, str]:
        started = time.monotonic()
        page = client.get("/ops/queues/").content.decode()
        assert time.monotonic() - started < 10
        return page, page.split(f'data-worker="{celery_worker.hostname}"')[1].split("</tr>")[0]

    # The session's worker may still be finishing a task an earlier test left it.
    wait_for(lambda: "Idle" in live_row()[1], timeout=120)
    page, live = live_row()
    assert "Answering" in live and "Idle" in live and "cpu, gpu" in live
    gone = page.split('data-worker="gpu@gone"')[1].split("</tr>")[0]
    assert 'class="ops-highlight"' in gone.split(">")[0] and "Not answering" in gone and "(silent)" in gone
    assert "NVIDIA L4 (24 GiB)" in gone and f"/admin/training/trainingrun/{run.pk}/change/" in gone
    queue_row = page.split(f'data-queue="{idle_queue}"')[1].split("</tr>")[0]
    assert 'data-waiting="1"' in queue_row
