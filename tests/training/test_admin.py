"""The operators' console: actions on real runs, the audit log, and nobody else gets in."""

import pytest
from django.contrib.admin.models import LogEntry
from django.test import Client
from django.utils import timezone

from tests.factories import make_run, sent_tasks
from training.models import TrainingRun, WorkerHeartbeat

pytestmark = pytest.mark.django_db
State = TrainingRun.State
CHANGELIST = "/admin/training/trainingrun/"


def _act(client: Client, action: str, *runs: TrainingRun):
    return client.post(CHANGELIST, {"action": action, "_selected_action": [run.pk for run in runs]}, follow=True)


def test_an_operator_cancels_runs_and_the_audit_log_says_who(client: Client, operator, creator):
    queued = make_run(creator, state=State.QUEUED)
    training = make_run(creator, state=State.TRAINING, worker="gpu-1", heartbeat_at=timezone.now())  # alive
    client.force_login(operator)
    page = _act(client, "cancel_runs", queued, training).content.decode()
    assert "Cancelled by an operator: 2 run(s)." in page
    queued.refresh_from_db()
    training.refresh_from_db()
    assert queued.state == State.CANCELLED
    assert training.cancel_requested and training.state == State.TRAINING  # stops after its current step
    entries = LogEntry.objects.filter(user=operator)
    assert sorted(int(e.object_id) for e in entries) == sorted([queued.pk, training.pk])
    assert {e.change_message for e in entries} == {"Cancelled by an operator"}


def test_an_operator_requeues_a_failed_run_to_resume_from_its_checkpoint(
    client: Client, operator, creator, django_capture_on_commit_callbacks
):
    failed = make_run(creator, state=State.FAILED, attempts=3, error_kind="worker_lost", error_message="gone")
    finished = make_run(creator, state=State.SUCCEEDED)
    client.force_login(operator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = _act(client, "requeue_runs", failed, finished).content.decode()
    failed.refresh_from_db()
    assert (failed.state, failed.attempts, failed.error_message) == (State.QUEUED, 0, "")
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (failed.pk,))]
    assert "continue it from a checkpoint instead" in page
    assert TrainingRun.objects.get(pk=finished.pk).state == State.SUCCEEDED


def test_operators_see_workers_with_their_status(client: Client, operator):
    WorkerHeartbeat.record("gpu@box1", ["gpu"], pid=42, info={"device": "cuda", "gpu_name": "NVIDIA H100",
                                                               "gpu_memory_bytes": 80 * 2**30})
    client.force_login(operator)
    page = client.get("/admin/training/workerheartbeat/").content.decode()
    assert "gpu@box1" in page and "NVIDIA H100 (80 GiB)" in page and "alive" in page


def test_creators_are_refused_everywhere_in_the_console(client: Client, creator):
    run = make_run(creator)
    client.force_login(creator)
    for url in ("/admin/", CHANGELIST, f"{CHANGELIST}{run.pk}/change/", "/admin/training/workerheartbeat/",
                "/admin/admin/logentry/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url
    response = _act(client, "cancel_runs", run)
    assert TrainingRun.objects.get(pk=run.pk).state == State.DRAFT
