"""Claiming, configuring and explaining runs: the runner's decisions, tested in-process."""

import os
import subprocess
from datetime import timedelta

import pytest
from django.utils import timezone

from engine.checkpoint import ResumeMismatch
from engine.dataset import PairError
from jobs.lifecycle import recover_lost_jobs
from tests.factories import make_dataset, make_run, sent_tasks, tiny_run_config
from training.models import RunEvent, TrainingRun
from training.runner import claim, explain, training_config
from training.runs import RunStateError, launch_run
from training.storage import claim_workdir, run_workdir

pytestmark = pytest.mark.django_db
State = TrainingRun.State


@pytest.fixture
def built_tiny_model(settings, tmp_path):
    """A tiny-model folder that counts as built, so the runner does not build one."""
    settings.TINY_MODEL_DIR = tmp_path / "tiny"
    settings.TINY_MODEL_DIR.mkdir()
    (settings.TINY_MODEL_DIR / "model_index.json").write_text("{}")
    return settings.TINY_MODEL_DIR


def test_launch_queues_a_draft_once_the_transaction_commits(creator, django_capture_on_commit_callbacks):
    run = make_run(creator)
    with django_capture_on_commit_callbacks() as callbacks:
        launch_run(run)
    run.refresh_from_db()
    assert run.state == State.QUEUED and run.queued_at is not None
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (run.pk,))]
    assert list(run.events.values_list("kind", "payload__state")) == [("state", "queued")]


def test_launching_twice_is_refused_in_plain_words(creator, django_capture_on_commit_callbacks):
    run = make_run(creator)
    with django_capture_on_commit_callbacks():
        launch_run(run)
    with pytest.raises(RunStateError, match="already launched"):
        launch_run(run)


def test_a_worker_claims_a_queued_run_and_a_duplicate_delivery_is_ignored(creator):
    run = make_run(creator, state=State.QUEUED)
    claimed = claim(run.pk, "gpu-1")
    assert claimed is not None and claimed.state == State.PREPARING
    assert (claimed.worker, claimed.attempts) == ("gpu-1", 1)
    assert claim(run.pk, "gpu-2") is None  # gpu-1 is alive and holds it
    run.refresh_from_db()
    assert run.worker == "gpu-1"


def test_a_run_whose_worker_went_silent_is_taken_over_as_a_loss_not_an_attempt(creator):
    run = make_run(creator, state=State.TRAINING, worker="gpu-1", attempts=1, lease=1,
                   heartbeat_at=timezone.now() - timedelta(minutes=5))
    claimed = claim(run.pk, "gpu-2")
    assert claimed is not None and (claimed.worker, claimed.attempts, claimed.losses) == ("gpu-2", 1, 1)
    assert claimed.lease == 2 and 290 < claimed.lost_seconds < 400
    assert claimed.state_reason == "Resuming from the last checkpoint."


def test_the_same_message_delivered_again_means_its_worker_process_died(creator):
    """A worker's pool child killed mid-run: Celery hands the same message out again at once, long before the
    heartbeat goes stale; the run is taken over as a loss."""
    run = make_run(creator, state=State.QUEUED)
    first = claim(run.pk, "local@box", task_id="task-1")
    assert first is not None and first.attempts == 1 and first.worker_pid == os.getpid()
    assert claim(run.pk, "local@box", task_id="task-2") is None  # a duplicate message: the holder is alive
    assert claim(run.pk, "local@box", task_id="task-1") is None  # its own message restored: its process runs
    TrainingRun.objects.filter(pk=run.pk).update(worker_pid=_dead_pid())
    again = claim(run.pk, "local@box", task_id="task-1")
    assert again is not None and (again.attempts, again.losses, again.lease) == (1, 1, first.lease + 1)


def _dead_pid() -> int:
    """The id of a process that has ended (a pool process the kernel killed)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_run_that_takes_its_machine_down_every_time_is_given_up_with_a_reason(creator):
    run = make_run(creator, state=State.QUEUED)
    outcomes = []
    for _ in range(5):  # it dies at once each time, before any progress
        outcomes.append(claim(run.pk, "local@box", task_id="same") is not None)
        TrainingRun.objects.filter(pk=run.pk).update(worker_pid=_dead_pid())
    assert outcomes == [True, True, True, False, False]
    run.refresh_from_db()
    assert run.state == State.FAILED and run.error_kind == "worker_lost"
    assert run.attempts == 1 and run.losses == 3
    assert "stopped 3 times in a row before it got anywhere" in run.error_message


def test_a_run_that_progresses_between_losses_is_resumed_as_often_as_it_takes(creator):
    run = make_run(creator, state=State.QUEUED)
    for loss in range(6):
        claimed = claim(run.pk, "local@box", task_id="same")
        assert claimed is not None, f"given up after {loss} losses"
        TrainingRun.objects.filter(pk=run.pk).update(progress_at=timezone.now() + timedelta(seconds=1),
                                                     worker_pid=_dead_pid())
    run.refresh_from_db()
    assert (run.state, run.attempts, run.losses, run.stalled_losses) == (State.PREPARING, 1, 5, 0)


def test_a_run_that_went_too_long_without_a_worker_is_given_up(creator, settings):
    settings.JOB_RECOVERY_MINUTES = 30
    run = make_run(creator, state=State.TRAINING, worker="gpu-1", attempts=1, lost_seconds=25 * 60,
                   heartbeat_at=timezone.now() - timedelta(minutes=10), progress_at=timezone.now())
    assert claim(run.pk, "gpu-2") is None
    run.refresh_from_db()
    assert run.state == State.FAILED and "went 35 minutes without one" in run.error_message


def test_finished_and_draft_runs_are_never_claimed(creator):
    for state in (State.DRAFT, State.SUCCEEDED, State.FAILED, State.CANCELLED):
        assert claim(make_run(creator, state=state).pk, "gpu-1") is None


def test_a_run_cancelled_while_queued_ends_without_training(creator):
    run = make_run(creator, state=State.QUEUED, cancel_requested=True)
    assert claim(run.pk, "gpu-1") is None
    run.refresh_from_db()
    assert run.state == State.CANCELLED and run.attempts == 0


def test_the_watchdog_requeues_runs_whose_worker_stopped_beating(creator, django_capture_on_commit_callbacks):
    stale = timezone.now() - timedelta(minutes=5)
    lost = make_run(creator, state=State.TRAINING, worker="gpu-1", attempts=1, heartbeat_at=stale, lease=4,
                    claimed_at=stale - timedelta(hours=1), progress_at=stale)
    alive = make_run(creator, state=State.TRAINING, worker="gpu-2", attempts=1, heartbeat_at=timezone.now())
    stopping = make_run(creator, state=State.TRAINING, worker="gpu-3", attempts=1, heartbeat_at=stale,
                        cancel_requested=True)
    with django_capture_on_commit_callbacks() as callbacks:
        found = recover_lost_jobs()
    assert (found.requeued, found.stopped) == ([f"trainingrun:{lost.pk}"], [f"trainingrun:{stopping.pk}"])
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (lost.pk,))]
    states = dict(TrainingRun.objects.values_list("pk", "state"))
    assert states == {lost.pk: State.QUEUED, alive.pk: State.TRAINING, stopping.pk: State.CANCELLED}
    lost.refresh_from_db()
    assert (lost.attempts, lost.losses, lost.lease, lost.worker) == (1, 1, 5, "")
    assert lost.state_reason == ("The machine training this run stopped answering; it continues from the start (no "
                                 "checkpoint was saved yet) on the next free machine.")


def test_a_queued_run_whose_message_was_lost_is_sent_again(creator, django_capture_on_commit_callbacks):
    old = timezone.now() - timedelta(minutes=10)
    waiting = make_run(creator, state=State.QUEUED, queued_at=old)
    fresh = make_run(creator, state=State.QUEUED, queued_at=timezone.now())
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_lost_jobs().resent == [f"trainingrun:{waiting.pk}"]
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (waiting.pk,))]
    waiting.refresh_from_db()
    assert waiting.queued_at == old  # its place in the queue is kept
    with django_capture_on_commit_callbacks() as callbacks:
        assert recover_lost_jobs().resent == []  # not again at every pass
    assert fresh.pk not in [args[0] for _, args in sent_tasks(callbacks)]


def test_the_config_combines_stored_settings_with_this_machines_paths(creator, tmp_path, settings, built_tiny_model):
    run = make_run(creator, config=tiny_run_config(steps=7), recipe="depth")
    cfg = training_config(run, tmp_path / "work", tmp_path / "manifest.csv")
    assert cfg.optim.steps == 7 and cfg.bucket.frames == 9
    assert cfg.output_dir == tmp_path / "work" / "output"
    assert cfg.model == str(built_tiny_model)
    assert (cfg.export.recipe, cfg.export.name) == ("depth", f"run-{run.pk}")
    assert cfg.quantize == "none"
    settings.TRAINING_QUANTIZE = "int8"  # set on a worker with a smaller GPU: its runs train on int8 weights
    assert training_config(run, tmp_path / "work", tmp_path / "manifest.csv").quantize == "int8"


def test_failures_are_explained_in_plain_words():
    assert explain(RuntimeError("CUDA out of memory. Tried to allocate 2 GiB"), "ref")[0] == "out_of_memory"
    kind, message = explain(PairError("pair 3: reference has 24 fps, target 30 fps"), "ref")
    assert kind == "bad_pair" and "pair 3" in message
    kind, message = explain(KeyError("boom"), "trainingrun-7-0a1b2c3d")
    assert kind == "internal" and "under the reference trainingrun-7-0a1b2c3d" in message
    mismatch = ResumeMismatch("The checkpoint step_000002 in /w/checkpoints was made with other settings (x).")
    assert explain(mismatch, "ref") == ("bad_config", str(mismatch))


def test_state_changes_are_recorded_as_events_in_order(creator, django_capture_on_commit_callbacks):
    run = make_run(creator)
    with django_capture_on_commit_callbacks():
        launch_run(run)
    claim(run.pk, "gpu-1")
    assert list(run.events.filter(kind=RunEvent.Kind.STATE).values_list("seq", "payload__state")) == [
        (1, "queued"), (2, "preparing"),
    ]


def test_validation_clips_named_in_storage_are_fetched_for_the_trainer(creator, tmp_path, built_tiny_model):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    name = default_storage.save("users/1/datasets/1/walk_ref.mp4", ContentFile(b"video bytes"))
    config = tiny_run_config(validation={"every": 0, "prompts": ["a walk"], "reference_videos": [name]})
    run = make_run(creator, config=config)
    cfg = training_config(run, tmp_path / "work", tmp_path / "manifest.csv")
    [fetched] = cfg.validation.reference_videos
    assert fetched == tmp_path / "work" / "validation" / "walk_ref.mp4"
    assert fetched.read_bytes() == b"video bytes"


def test_a_validation_clip_missing_from_storage_is_a_plain_error(creator, tmp_path, built_tiny_model):
    from training.storage import DatasetNotReady

    config = tiny_run_config(validation={"every": 0, "prompts": ["a"], "reference_videos": ["users/1/gone.mp4"]})
    with pytest.raises(DatasetNotReady, match=r"“gone\.mp4” is no longer in storage"):
        training_config(make_run(creator, config=config), tmp_path / "work", tmp_path / "manifest.csv")


def test_pairs_the_creator_kept_out_of_training_become_the_engines_held_out_manifest_rows(
    creator, tmp_path, built_tiny_model
):
    from datasets.models import ClipPair

    dataset = make_dataset(creator)
    kept = [ClipPair.objects.create(dataset=dataset, name=name, position=i) for i, name in enumerate("abc")]
    run = make_run(creator, dataset=dataset, config={**tiny_run_config(), "held_out_pairs": [kept[2].pk]})
    cfg = training_config(run, tmp_path / "work", tmp_path / "manifest.csv")
    assert cfg.data.validation_indices == [2]
    without = training_config(make_run(creator, dataset=dataset, config=tiny_run_config()), tmp_path / "w2",
                              tmp_path / "manifest.csv")
    assert without.data.validation_indices == []


def test_a_working_folder_left_by_another_run_with_the_same_id_is_emptied_and_the_runs_own_is_kept(
    creator, settings, tmp_path
):
    settings.DATA_DIR = tmp_path
    run = make_run(creator)
    folder = run_workdir(run.pk)
    # A database made again gives this id to a new run; the old run's checkpoint is still on the worker's disk.
    (folder / "output" / "checkpoints" / "step_000100").mkdir(parents=True)
    (folder / "output" / "checkpoints" / "step_000100" / "state.pt").write_bytes(b"another run's")
    assert claim_workdir(run) == folder
    assert not (folder / "output").exists()
    # The run's own folder, from an earlier attempt on this machine, is what it resumes from: kept.
    (folder / "output" / "checkpoints" / "step_000020").mkdir(parents=True)
    claim_workdir(run)
    assert (folder / "output" / "checkpoints" / "step_000020").is_dir()
    # Another life of the same id (a run created later) empties it again.
    run.created_at += timedelta(days=1)
    claim_workdir(run)
    assert not (folder / "output").exists()
