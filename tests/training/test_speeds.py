"""This server's speeds: the worker times each stage of a run it finishes and keeps a running mean per size."""

from __future__ import annotations

from pathlib import Path
from time import sleep
from types import SimpleNamespace

import pytest

from engine.train import LOADING, PREPARING, SAMPLING, Progress, TrainResult
from tests.factories import make_run, tiny_run_config
from training import runner
from training.models import MeasuredSpeed, TrainingRun
from training.runs import transition
from training.speeds import SpeedKey, StageClock, record_speeds

pytestmark = pytest.mark.django_db
KEY = SpeedKey("tiny", 128, 96, 9, 1, 4)


class FakeTime:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def wait(self, seconds: float) -> None:
        self.now += seconds


def timed_run(time: FakeTime, clock: StageClock, steps: int = 4) -> None:
    """What the engine reports for 3 clips (2 s each), loading (5 s), steps of 1 s with a sample of 3 s half-way,
    and the final sample (3 s) and saving (4 s in all)."""
    for _ in range(3):
        clock.preparing(3)
        time.wait(2)
    clock.loading()
    time.wait(5)
    for step in range(1, steps + 1):
        time.wait(1)
        clock.stepped(step, steps)
        if step == steps // 2:
            clock.sampling(1)
            time.wait(3)
            clock.sampled(step, steps)
    time.wait(1)  # the final checkpoint
    clock.sampling(1)
    time.wait(3)
    clock.sampled(steps, steps)
    time.wait(3)  # the adapter file, stored


def test_the_clock_splits_a_run_into_preparing_loading_steps_samples_and_saving():
    time = FakeTime()
    clock = StageClock(clock=time)
    timed_run(time, clock)
    total = clock.stop()
    # The first step ends the loading (it pays one-off costs); the mid-run sample's time is not a step's.
    assert clock.per_unit() == {"prepare": 2.0, "load": 6.0, "step": 1.0, "sample": 3.0, "save": 4.0}
    assert total == 3 * 2 + 6 + 3 * 1 + 2 * 3 + 4


def test_a_run_without_samples_counts_the_held_out_loss_as_saving():
    time = FakeTime()
    clock = StageClock(clock=time)
    clock.loading()
    time.wait(1)
    clock.stepped(1, 1)
    clock.sampling(0)
    time.wait(2)
    clock.stop()
    assert "sample" not in clock.per_unit() and clock.per_unit()["save"] == 2.0


def test_the_running_mean_follows_the_last_five_runs():
    for seconds in (10.0, 20.0):
        time = FakeTime()
        clock = StageClock(clock=time)
        clock.loading()
        time.wait(seconds)
        clock.stop()
        record_speeds(KEY, clock)
    row = MeasuredSpeed.objects.get(stage="load", **KEY.as_fields())
    assert (row.seconds, row.runs) == (15.0, 2)
    for _ in range(20):
        time = FakeTime()
        clock = StageClock(clock=time)
        clock.loading()
        time.wait(40.0)
        clock.stop()
        record_speeds(KEY, clock)
    row.refresh_from_db()
    assert row.runs == 22 and row.seconds == pytest.approx(40.0, abs=0.5)  # the old runs have all but faded out


@pytest.fixture
def engine_that_reports(monkeypatch, tmp_path, settings):
    """The runner's real path (claim, reporter, end states) around an engine that only reports its stages, as
    engine.train does, and a Studio that stores the adapter."""
    def train(cfg, hooks):
        sleep(1.5 * settings.WORKER_HEARTBEAT_SECONDS)  # a run outlives a heartbeat, as every real one does
        for clip in (1, 2, 3):
            hooks.stage(PREPARING, clip, 3)
        hooks.stage(LOADING)
        for step in range(1, cfg.optim.steps + 1):
            hooks.on_progress(Progress(step, cfg.optim.steps, 0.5, 1e-4, 2.0, 0.0, 10.0))
        hooks.stage(SAMPLING, 0, 1)
        hooks.stage(SAMPLING, 1, 1)
        hooks.on_sample(cfg.optim.steps, [])
        return TrainResult(status="finished", steps=cfg.optim.steps, adapter_path=tmp_path / "a.safetensors",
                           last_loss=0.5)

    monkeypatch.setattr("engine.train.train", train)
    monkeypatch.setattr(runner, "materialize_dataset", lambda run, workdir: Path(workdir) / "manifest.jsonl")
    monkeypatch.setattr(runner, "_store_adapter", lambda run, path: SimpleNamespace(name="My adapter"))
    monkeypatch.setattr("training.reporting.store_samples", lambda run_id, step, files: [])


# The runner beats from a thread of its own, on its own database connection, as on a worker: that thread sees the run
# only once it is committed (on PostgreSQL), so the runner's tests commit like a worker's.
@pytest.mark.django_db(transaction=True)
def test_the_worker_records_the_speeds_of_a_finished_run(creator, settings, engine_that_reports):
    settings.MODEL_PRESET = "tiny"
    run = make_run(creator, config=tiny_run_config(steps=6), total_steps=6)
    transition(run, TrainingRun.State.QUEUED, "Waiting.")
    runner.execute(run.pk, "gpu-1")
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED
    rows = {row.stage: row for row in MeasuredSpeed.objects.filter(**KEY.as_fields())}
    assert sorted(rows) == ["load", "prepare", "sample", "save", "step"]
    assert all(row.runs == 1 and row.seconds >= 0 for row in rows.values())


@pytest.mark.django_db(transaction=True)
def test_a_run_that_failed_records_no_speeds(creator, settings, engine_that_reports, monkeypatch):
    settings.MODEL_PRESET = "tiny"
    monkeypatch.setattr(runner, "_store_adapter", lambda run, path: (_ for _ in ()).throw(RuntimeError("no")))
    run = make_run(creator, config=tiny_run_config(steps=6), total_steps=6)
    transition(run, TrainingRun.State.QUEUED, "Waiting.")
    runner.execute(run.pk, "gpu-1")
    assert TrainingRun.objects.get(pk=run.pk).state == TrainingRun.State.FAILED
    assert not MeasuredSpeed.objects.exists()
