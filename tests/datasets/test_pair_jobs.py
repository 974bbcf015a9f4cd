"""Clip checks and splits are jobs like any other: a crash marks the pair, a lost worker sends it back to the queue."""

from __future__ import annotations

from datetime import timedelta

from django.core.files.storage import default_storage
from django.utils import timezone

from datasets.jobs import run_pair_job
from datasets.models import ClipPair, PairJob
from jobs.lifecycle import recover_lost_jobs
from tests.factories import sent_tasks
from tests.wizard.flow import pairs, start, upload


def _big_pair_queued(maya, clips, settings, django_capture_on_commit_callbacks) -> tuple[ClipPair, PairJob]:
    settings.WIZARD_INLINE_CHECK_BYTES = 0  # every pair counts as big: checked on a worker
    draft = start(maya)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    pair = pairs(draft)["walk"]
    job = PairJob.objects.get(pair=pair)
    assert pair.status == ClipPair.Status.CHECKING
    assert (job.action, job.state) == (PairJob.Action.CHECK, PairJob.State.QUEUED)
    assert ("datasets.tasks.pair_job", (job.pk,)) in sent_tasks(callbacks)
    return pair, job


def test_a_big_pair_is_checked_as_a_job_and_ends_ready(maya, clips, settings, django_capture_on_commit_callbacks):
    pair, job = _big_pair_queued(maya, clips, settings, django_capture_on_commit_callbacks)
    run_pair_job(job.pk, "cpu@test", "task-1")
    pair.refresh_from_db()
    job.refresh_from_db()
    assert pair.status == ClipPair.Status.OK and job.state == PairJob.State.DONE
    assert (job.attempts, job.worker) == (1, "cpu@test")
    run_pair_job(job.pk, "cpu@other", "task-2")  # delivered again: left alone
    job.refresh_from_db()
    assert job.worker == "cpu@test"


def test_a_check_that_crashes_on_the_worker_marks_the_pair_instead_of_leaving_it_being_checked(
    maya, clips, settings, django_capture_on_commit_callbacks
):
    pair, job = _big_pair_queued(maya, clips, settings, django_capture_on_commit_callbacks)
    default_storage.delete(pair.target_file.name)  # the stored clip vanished under the worker
    run_pair_job(job.pk, "cpu@test", "task-1")
    pair.refresh_from_db()
    job.refresh_from_db()
    assert job.state == PairJob.State.FAILED and job.error_ref.startswith(f"pairjob-{job.pk}-")
    assert pair.status == ClipPair.Status.ERROR
    [message] = pair.messages
    assert message["code"] == "check_failed" and "“walk” could not be checked on the worker" in message["text"]
    assert job.error_ref in message["text"]


def test_a_check_whose_worker_vanished_is_sent_back_to_the_queue_and_then_done(
    maya, clips, settings, django_capture_on_commit_callbacks
):
    pair, job = _big_pair_queued(maya, clips, settings, django_capture_on_commit_callbacks)
    PairJob.objects.filter(pk=job.pk).update(state=PairJob.State.RUNNING, worker="cpu@gone",
                                             heartbeat_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert recover_lost_jobs().requeued == [f"pairjob:{job.pk}"]
    assert sent_tasks(callbacks) == [("datasets.tasks.pair_job", (job.pk,))]
    run_pair_job(job.pk, "cpu@test", "task-2")
    pair.refresh_from_db()
    job.refresh_from_db()
    assert pair.status == ClipPair.Status.OK
    assert (job.state, job.losses) == (PairJob.State.DONE, 1)
