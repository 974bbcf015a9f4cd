"""Runs on the real worker, the real broker and the real channel layer, with the tiny model."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from studio.models import Adapter
from tests.factories import make_ready_dataset, make_run, tiny_run_config
from tests.helpers import wait_for
from tests.services import Worker
from training.models import RunMetric, TrainingRun
from training.runs import continue_run, launch_run

pytestmark = pytest.mark.timeout(240)
State = TrainingRun.State


def _run_in(run: TrainingRun, *states: str) -> bool:
    run.refresh_from_db()
    return run.state in states


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


def test_a_run_trains_to_the_end_and_its_watcher_gets_every_event_in_order(
    transactional_db, celery_worker, creator, tmp_path
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=3)
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=12, checkpoint_every=6), name="Restore v1")
    headers = _session_headers(creator)

    async def watch() -> list[dict]:
        from channels.db import database_sync_to_async

        communicator = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        assert connected
        await database_sync_to_async(launch_run)(run)
        received: list[dict] = []
        while not received or received[-1]["payload"].get("state") not in ("succeeded", "failed", "cancelled"):
            received.append(await communicator.receive_json_from(timeout=120))
        await communicator.disconnect()
        return received

    received = async_to_sync(watch)()
    run.refresh_from_db()
    assert run.state == State.SUCCEEDED, (run.state_reason, celery_worker.log_tail())
    assert [message["seq"] for message in received] == list(range(1, len(received) + 1))
    states = [m["payload"]["state"] for m in received if m["kind"] == "state"]
    assert states == ["queued", "preparing", "training", "finishing", "succeeded"]
    progress = [m["payload"] for m in received if m["kind"] == "progress" and m["payload"]["stage"] == "training"]
    assert progress[-1]["step"] == 12 and progress[-1]["total"] == 12
    assert sum(len(p["points"]) for p in progress) == 12
    # Every stage reached the page through the same events, clip by clip and sample by sample, in order: the
    # state says "training" only once the clips are prepared.
    stages = [(m["payload"].get("stage") or m["payload"]["state"], m["payload"].get("text"))
              for m in received if m["kind"] in ("progress", "state")]
    order = [stage for i, (stage, _) in enumerate(stages) if i == 0 or stage != stages[i - 1][0]]
    assert order == ["queued", "preparing", "training", "loading", "training", "sampling", "finishing", "succeeded"]
    preparing = [text for stage, text in stages if stage == "preparing" and text]
    assert preparing[0] == "Preparing clip 1 of 3" and preparing[-1] == "Preparing clip 3 of 3"
    made = [text for stage, text in stages if stage == "sampling"]
    assert made == ["Measuring how well it does on the held-out clips", "Making sample 1 of 1"]
    assert all(p["eta_text"] == "" or p["eta_text"].startswith(("about ", "a few")) for p in progress)
    assert [m["payload"]["step"] for m in received if m["kind"] == "checkpoint"] == [6, 12]

    assert (run.step, run.total_steps, run.attempts) == (12, 12, 1)
    assert RunMetric.objects.filter(run=run).count() == 12
    assert sorted(run.checkpoints.values_list("step", flat=True)) == [6, 12]  # keep=2 of tiny_run_config
    adapter = Adapter.objects.get(run=run)
    assert adapter.owner == creator and adapter.source == Adapter.Source.TRAINED
    assert adapter.rank == 4 and adapter.reference_downscale_factor == 1
    assert adapter.file.size > 0 and adapter.metadata["steps"] == "12"


def test_cancel_stops_a_run_within_seconds_and_keeps_its_checkpoints(
    transactional_db, celery_worker, creator, tmp_path
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=5000, checkpoint_every=10))
    launch_run(run)
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, step__gte=15).exists())

    TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    asked_at = time.monotonic()
    wait_for(lambda: _run_in(run, State.CANCELLED, State.FAILED), timeout=30, interval=0.1)
    assert time.monotonic() - asked_at < 10
    assert run.state == State.CANCELLED, run.state_reason
    assert run.step < 5000
    steps = list(run.checkpoints.values_list("step", flat=True))
    assert steps and max(steps) == run.step  # the step it stopped at is saved too
    assert not Adapter.objects.filter(run=run).exists()


def test_a_run_with_an_unusable_pair_fails_with_a_plain_reason(transactional_db, celery_worker, creator, tmp_path):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    broken = dataset.pairs.get(name="clip1")
    broken.reference_file.delete(save=True)
    run = make_run(creator, dataset=dataset, config=tiny_run_config())
    launch_run(run)
    wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES))
    assert run.state == State.FAILED
    assert run.error_kind == "bad_pair"
    assert run.error_message == "A clip pair cannot be used: Pair “clip1” has no reference video yet."


@contextmanager
def _training_on_a_worker_of_its_own(creator, folder: Path, logs_dir: Path, name: str, steps: int,
                                     until_checkpoint: int) -> Iterator[tuple[TrainingRun, Worker]]:
    """A run of `steps` (a checkpoint every 15) trained by a worker of its own, `name`@localhost, until it has
    saved the checkpoint at `until_checkpoint`; the worker is killed when the block ends, whatever happened."""
    from training.runs import transition
    from training.tasks import train_run

    dataset = make_ready_dataset(creator, folder / "clips", count=2)
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=steps, checkpoint_every=15))
    worker = Worker(f"{name}@localhost", logs_dir / f"{name}-worker.log", queues=f"gpu-{name}")
    worker.start()
    try:
        transition(run, State.QUEUED, "Waiting for a GPU worker.")
        train_run.apply_async(args=[run.pk], queue=f"gpu-{name}")
        wait_for(lambda: run.checkpoints.filter(step__gte=until_checkpoint).exists())
        yield run, worker
    finally:
        with contextlib.suppress(ProcessLookupError):  # the test may have killed it already
            worker.kill_hard()


def test_a_run_whose_worker_is_killed_resumes_from_its_last_checkpoint_on_another_worker(
    transactional_db, celery_worker, creator, tmp_path, logs_dir
):
    from jobs.lifecycle import recover_lost_jobs

    with _training_on_a_worker_of_its_own(creator, tmp_path, logs_dir, "doomed", 100, 30) as (run, doomed):
        doomed.kill_hard()
    saved_before_kill = max(run.checkpoints.values_list("step", flat=True))
    run.refresh_from_db()
    assert run.state == State.TRAINING and run.worker == "doomed@localhost"

    # The watchdog (every few seconds in production) notices the silence and requeues the run;
    # the other live worker picks it up.
    wait_for(lambda: recover_lost_jobs().requeued == [f"trainingrun:{run.pk}"], timeout=30, interval=1)
    wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES), timeout=180)
    assert run.state == State.SUCCEEDED, (run.state_reason, celery_worker.log_tail())
    assert (run.attempts, run.losses, run.worker, run.step) == (1, 1, celery_worker.hostname, 100)
    resumed = run.events.filter(kind="state", payload__state="training").order_by("seq").last()
    assert resumed is not None
    assert resumed.payload["message"] == f"Training, resumed at step {saved_before_kill}."
    assert RunMetric.objects.filter(run=run).count() == 100


def test_a_run_whose_worker_process_is_killed_resumes_at_once_on_the_same_worker_as_a_loss(
    transactional_db, celery_worker, creator, tmp_path, logs_dir
):
    """kill -9 of the pool process that trains (as the kernel's out-of-memory killer would): Celery hands the same
    message out again at once, and the run resumes from its last checkpoint without waiting for the watchdog and
    without using an attempt."""
    with _training_on_a_worker_of_its_own(creator, tmp_path, logs_dir, "bumpy", 60, 15) as (run, host):
        assert host.process is not None
        [child] = [int(pid) for pid in Path(f"/proc/{host.process.pid}/task/{host.process.pid}/children")
                   .read_text().split()]
        os.kill(child, signal.SIGKILL)
        wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES), timeout=180)
    assert run.state == State.SUCCEEDED, (run.state_reason, host.log_tail())
    assert (run.attempts, run.losses, run.worker, run.step) == (1, 1, "bumpy@localhost", 60)
    assert RunMetric.objects.filter(run=run).count() == 60


def test_a_run_whose_worker_freezes_continues_elsewhere_and_the_thawed_worker_leaves_it_alone(
    transactional_db, celery_worker, creator, tmp_path, logs_dir
):
    from jobs.lifecycle import recover_lost_jobs

    with _training_on_a_worker_of_its_own(creator, tmp_path, logs_dir, "frozen", 100, 15) as (run, frozen):
        frozen.freeze()
        frozen_at = TrainingRun.objects.get(pk=run.pk).step

        # The watchdog notices the silence; the live worker takes the run over from its last checkpoint.
        wait_for(lambda: recover_lost_jobs().requeued == [f"trainingrun:{run.pk}"], timeout=30, interval=1)
        wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, worker=celery_worker.hostname,
                                                    state=State.TRAINING).exists(), timeout=120)
        frozen.thaw()  # it comes back while the run trains elsewhere
        wait_for(lambda: "is no longer held by frozen@localhost" in frozen.log_tail(20000), timeout=60)
        wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES), timeout=180)
    assert run.state == State.SUCCEEDED, (run.state_reason, celery_worker.log_tail())
    assert (run.attempts, run.losses, run.worker, run.step) == (1, 1, celery_worker.hostname, 100)
    assert frozen_at < 100
    assert RunMetric.objects.filter(run=run).count() == 100
    requeued = run.events.filter(kind="state", payload__state="queued").order_by("seq").last()
    assert requeued is not None and "stopped answering; it continues from step" in requeued.payload["message"]


def test_a_run_survives_a_redis_restart_and_keeps_its_whole_history(
    transactional_db, celery_worker, redis_server, creator, tmp_path
):
    if redis_server is None:
        pytest.skip("REDIS_URL names an external Redis, which the tests must not restart")
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=80, checkpoint_every=40))
    launch_run(run)
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, step__gte=10).exists())
    redis_server.stop()
    time.sleep(2)  # the worker keeps training and recording while Redis is away
    redis_server.start()
    wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES), timeout=180)
    assert run.state == State.SUCCEEDED, (run.state_reason, celery_worker.log_tail())
    seqs = list(run.events.values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert RunMetric.objects.filter(run=run).count() == 80
    assert [s for s in run.events.filter(kind="state").values_list("payload__state", flat=True)] == [
        "queued", "preparing", "training", "finishing", "succeeded",
    ]


def _finished_run(creator, tmp_path: Path, steps: int, checkpoint_every: int) -> TrainingRun:
    """A tiny run on two pairs, launched and trained to the end by the session's worker."""
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    run = make_run(creator, dataset=dataset, config=tiny_run_config(steps=steps, checkpoint_every=checkpoint_every))
    launch_run(run)
    wait_for(lambda: _run_in(run, *TrainingRun.FINAL_STATES))
    assert run.state == State.SUCCEEDED, run.state_reason
    return run


def test_each_stored_checkpoint_is_a_comfyui_adapter_and_resumable(
    transactional_db, celery_worker, creator, tmp_path
):
    from engine.export import read_adapter

    run = _finished_run(creator, tmp_path, steps=10, checkpoint_every=4)
    assert sorted(run.checkpoints.values_list("step", flat=True)) == [8, 10]  # the final step is kept too
    last = run.checkpoints.get(step=10)
    local = tmp_path / "checkpoint.safetensors"
    local.write_bytes(last.adapter_file.read())
    info = read_adapter(local)
    assert info.metadata["steps"] == "10" and info.rank == 4
    assert last.training_file.size > 0 and last.state_file.size > 0


def test_a_finished_run_continued_from_its_last_checkpoint_trains_on_to_the_new_total(
    transactional_db, celery_worker, creator, tmp_path
):
    run = _finished_run(creator, tmp_path, steps=4, checkpoint_every=4)
    continued = continue_run(run.checkpoints.get(step=4), extra_steps=2)
    wait_for(lambda: _run_in(continued, *TrainingRun.FINAL_STATES))
    assert continued.state == State.SUCCEEDED, (continued.state_reason, celery_worker.log_tail())
    assert continued.step == 6
    logs = " ".join(str(m) for m in continued.events.filter(kind="log").values_list("payload__message", flat=True))
    assert "resumed from step_000004 at step 4" in logs
    # Only the new steps were trained: the metrics start where the checkpoint ended.
    assert sorted(RunMetric.objects.filter(run=continued).values_list("step", flat=True)) == [5, 6]
