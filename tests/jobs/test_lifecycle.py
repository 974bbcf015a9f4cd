"""One lifecycle for every kind of job: claims, leases, stops and the watchdog, tested in-process on the database."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from jobs import lifecycle
from prep.models import Extraction
from studio.models import Generation
from tests.factories import make_run, sent_tasks
from training.models import TrainingRun
from training.quotas import usage_of
from training.runs import delete_run, request_cancel

pytestmark = pytest.mark.django_db
State = TrainingRun.State
SILENT = timedelta(minutes=5)


def _generation(owner, **fields) -> Generation:
    return Generation.objects.create(owner=owner, prompt="a street at night", reference_file="users/1/ref.mp4",
                                     **fields)


def _extraction(owner, **fields) -> Extraction:
    return Extraction.objects.create(owner=owner, method="canny", settings_key="k", source="users/1/walk.mp4",
                                     source_name="walk.mp4", source_sha256="0" * 64, **fields)


def test_a_stop_on_a_run_whose_worker_is_silent_takes_effect_at_once_and_frees_the_quota(creator):
    queued = make_run(creator, state=State.QUEUED)
    run = lifecycle.claim(TrainingRun, queued.pk, "gpu-1", "task-1")
    assert run is not None and usage_of(creator).active_runs == 1
    TrainingRun.objects.filter(pk=run.pk).update(state=State.TRAINING, heartbeat_at=timezone.now() - SILENT)
    stopped = request_cancel(run)
    assert stopped.state == State.CANCELLED and stopped.finished_at is not None
    assert "stopped answering" in stopped.state_reason
    assert usage_of(creator).active_runs == 0
    delete_run(stopped)  # Delete works once it has stopped
    assert not TrainingRun.objects.filter(pk=run.pk).exists()


def test_a_worker_that_comes_back_after_its_run_was_stopped_writes_nothing_and_stops(creator):
    run = lifecycle.claim(TrainingRun, make_run(creator, state=State.QUEUED).pk, "gpu-1", "task-1")
    assert run is not None
    holder = lifecycle.Holder(run)  # what the frozen worker still holds
    TrainingRun.objects.filter(pk=run.pk).update(state=State.TRAINING, heartbeat_at=timezone.now() - SILENT)
    request_cancel(run)

    assert holder.beat() is False  # the worker thaws: its heartbeat finds the job gone
    with pytest.raises(lifecycle.JobLost):
        holder.update(step=40)
    assert holder.should_stop() is True
    assert holder.end(State.SUCCEEDED, "done") is False
    run.refresh_from_db()
    assert (run.state, run.step) == (State.CANCELLED, 0)


def test_a_stop_on_a_live_run_asks_its_worker_to_stop_after_the_current_step(creator):
    run = lifecycle.claim(TrainingRun, make_run(creator, state=State.QUEUED).pk, "gpu-1", "task-1")
    assert run is not None
    holder = lifecycle.Holder(run)
    assert holder.should_stop() is False
    stopping = request_cancel(run)
    assert stopping.state == State.PREPARING and stopping.cancel_requested
    assert holder.should_stop() is True and not holder.lost.is_set()
    assert holder.end(State.CANCELLED, "Stopped at your request.") is True


def test_a_frozen_worker_whose_job_was_requeued_loses_it_to_the_next_claim(creator):
    run = lifecycle.claim(TrainingRun, make_run(creator, state=State.QUEUED).pk, "gpu-1", "task-1")
    assert run is not None
    frozen = lifecycle.Holder(run)
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - SILENT)
    assert lifecycle.recover_lost_jobs().requeued == [f"trainingrun:{run.pk}"]
    resumed = lifecycle.claim(TrainingRun, run.pk, "gpu-2", "task-2")
    assert resumed is not None and resumed.lease == frozen.lease + 2
    assert (resumed.attempts, resumed.losses) == (1, 1)

    with pytest.raises(lifecycle.JobLost):
        frozen.update(step=10)
    lifecycle.Holder(resumed).update(step=30)
    assert TrainingRun.objects.get(pk=run.pk).step == 30


def test_the_watchdog_recovers_generations_and_extractions_too(creator, django_capture_on_commit_callbacks):
    stale = timezone.now() - SILENT
    generation = _generation(creator, state=Generation.State.RUNNING, worker="gpu-1", heartbeat_at=stale)
    extraction = _extraction(creator, state=Extraction.State.RUNNING, worker="cpu-1", heartbeat_at=stale)
    busy = _extraction(creator, state=Extraction.State.RUNNING, worker="cpu-2", heartbeat_at=timezone.now())
    with django_capture_on_commit_callbacks() as callbacks:
        found = lifecycle.recover_lost_jobs()
    assert sorted(found.requeued) == sorted([f"generation:{generation.pk}", f"extraction:{extraction.pk}"])
    assert sorted(sent_tasks(callbacks)) == sorted([("studio.tasks.generate", (generation.pk,)),
                                                    ("prep.tasks.extract", (extraction.pk,))])
    generation.refresh_from_db()
    extraction.refresh_from_db()
    assert (generation.state, generation.losses, generation.worker) == (Generation.State.QUEUED, 1, "")
    assert generation.state_reason.startswith("The machine making this video stopped answering")
    assert (extraction.state, extraction.losses) == (Extraction.State.QUEUED, 1)
    assert Extraction.objects.get(pk=busy.pk).state == Extraction.State.RUNNING


def test_a_generation_asked_to_stop_while_its_worker_is_silent_ends_cancelled(creator):
    generation = _generation(creator, state=Generation.State.RUNNING, worker="gpu-1", cancel_requested=True,
                             heartbeat_at=timezone.now() - SILENT)
    assert lifecycle.recover_lost_jobs().stopped == [f"generation:{generation.pk}"]
    generation.refresh_from_db()
    assert generation.state == Generation.State.CANCELLED and generation.finished_at is not None


def test_an_extraction_can_be_stopped_like_any_other_job(creator):
    extraction = _extraction(creator, state=Extraction.State.QUEUED)
    stopped = lifecycle.request_stop(Extraction, extraction.pk)
    assert stopped is not None and stopped.state == Extraction.State.CANCELLED and stopped.finished
    assert lifecycle.request_stop(Extraction, extraction.pk) is None  # already ended


def test_the_watchdog_command_looks_once_and_says_what_it_did(creator, django_capture_on_commit_callbacks):
    run = make_run(creator, state=State.TRAINING, worker="gpu-1", heartbeat_at=timezone.now() - SILENT)
    out = StringIO()
    with django_capture_on_commit_callbacks():
        call_command("watchdog", "--once", stdout=out)
    assert f"trainingrun:{run.pk}: its worker went silent; sent back to the queue." in out.getvalue()
    assert TrainingRun.objects.get(pk=run.pk).state == State.QUEUED


def test_a_worker_starting_again_sends_back_at_once_what_its_previous_process_held(
    creator, django_capture_on_commit_callbacks
):
    held = lifecycle.claim(TrainingRun, make_run(creator, state=State.QUEUED).pk, "local@box", "task-1")
    elsewhere = lifecycle.claim(TrainingRun, make_run(creator, state=State.QUEUED).pk, "gpu@other", "task-2")
    generation = _generation(creator, state=Generation.State.RUNNING, worker="local@box",
                             heartbeat_at=timezone.now())  # beating a second ago: no waiting for it to go stale
    assert held is not None and elsewhere is not None
    with django_capture_on_commit_callbacks() as callbacks:
        found = lifecycle.recover_jobs_of("local@box")
    assert sorted(found.requeued) == sorted([f"trainingrun:{held.pk}", f"generation:{generation.pk}"])
    assert len(sent_tasks(callbacks)) == 2
    assert TrainingRun.objects.get(pk=held.pk).losses == 1
    assert TrainingRun.objects.get(pk=elsewhere.pk).state == State.PREPARING
