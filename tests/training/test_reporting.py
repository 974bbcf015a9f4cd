"""The worker's side of the one progress path: each stage recorded on the run and as an event, never another way."""

from __future__ import annotations

import pytest

from engine.synthetic import make_clip
from engine.train import LOADING, PREPARING, SAMPLING, Progress
from jobs.lifecycle import Holder
from tests.factories import make_run
from training.models import RunEvent, TrainingRun
from training.reporting import RunReporter
from training.runner import claim
from training.runs import transition

pytestmark = pytest.mark.django_db
State = TrainingRun.State


@pytest.fixture
def reporter(creator) -> RunReporter:
    """The hooks of a run a worker has just claimed (it is preparing), writing at most once a minute."""
    run = make_run(creator, total_steps=100)
    transition(run, State.QUEUED, "Waiting for a GPU worker.")
    claimed = claim(run.pk, "gpu-1")
    assert claimed is not None and claimed.state == State.PREPARING
    return RunReporter(Holder(claimed), flush_seconds=60, training_reason="Training.")


def progress_events(run_id: int) -> list[dict]:
    return [event.payload for event in RunEvent.objects.filter(run_id=run_id, kind="progress").order_by("seq")]


def step(n: int, total: int = 100) -> Progress:
    return Progress(n, total, 0.5, 1e-4, 2.0, (total - n) / 2.0, 100.0)


def test_each_clip_being_prepared_is_saved_on_the_run_and_sent_as_a_progress_event(reporter):
    reporter.on_stage(PREPARING, 1, 9)
    reporter.on_stage(PREPARING, 2, 9)  # within the minute: not written
    reporter.on_stage(PREPARING, 3, 9)
    run = TrainingRun.objects.get(pk=reporter.run_id)
    assert (run.state, run.stage, run.stage_done, run.stage_total) == (State.PREPARING, "preparing", 1, 9)
    reporter.flush_seconds = 0
    reporter.on_stage(PREPARING, 3, 9)
    run.refresh_from_db()
    assert (run.stage_done, run.stage_total) == (3, 9)
    assert [p["text"] for p in progress_events(run.pk)] == ["Preparing clip 1 of 9", "Preparing clip 3 of 9"]
    assert progress_events(run.pk)[-1] == {"stage": "preparing", "done": 3, "total": 9, "text": "Preparing clip 3 of 9"}


def test_the_first_and_last_clip_are_always_written_however_fast_they_come(reporter):
    for done in range(1, 10):
        reporter.on_stage(PREPARING, done, 9)
    assert [p["done"] for p in progress_events(reporter.run_id)] == [1, 9]


def test_the_run_is_training_only_once_its_clips_are_prepared(reporter):
    reporter.on_stage(PREPARING, 1, 2)
    assert TrainingRun.objects.get(pk=reporter.run_id).state == State.PREPARING
    reporter.on_stage(LOADING, 0, 0)
    run = TrainingRun.objects.get(pk=reporter.run_id)
    assert (run.state, run.state_reason, run.stage) == (State.TRAINING, "Training.", "loading")
    kinds = [
        (e.kind, e.payload.get("state") or e.payload.get("stage"))
        for e in RunEvent.objects.filter(run=run).order_by("seq")
    ]
    assert kinds[-2:] == [("state", "training"), ("progress", "loading")]  # the state first, then the stage


def test_steps_carry_the_time_left_in_the_pages_words_and_samples_come_between_them(reporter):
    reporter.on_stage(LOADING, 0, 0)
    reporter.on_progress(step(1))  # the first step after loading is written at once
    reporter.on_progress(step(2))  # within the minute: kept for the next write
    reporter.on_stage(SAMPLING, 0, 1)  # a new stage writes the steps so far first
    reporter.on_stage(SAMPLING, 1, 1)
    reporter.on_progress(step(3))  # back from the samples: written at once
    events = progress_events(reporter.run_id)
    assert [(p["stage"], p.get("step") or p.get("done")) for p in events] == [
        ("loading", 0),
        ("training", 1),
        ("training", 2),
        ("sampling", 0),
        ("sampling", 1),
        ("training", 3),
    ]
    first = events[1]
    assert (first["text"], first["eta_text"]) == ("Step 1 of 100", "about 50 s left")
    assert first["points"] == [[1, 0.5]] and events[2]["points"] == [[2, 0.5]]
    run = TrainingRun.objects.get(pk=reporter.run_id)
    assert (run.stage, run.step, run.eta_seconds) == ("training", 3, 48.5)


def test_each_validation_sample_of_a_step_has_its_own_line_in_the_log(reporter, tmp_path):
    clips = [make_clip(tmp_path / f"sample_{index}.mp4", seed=index, width=64, height=64, seconds=0.3)
             for index in range(2)]
    reporter.on_sample(100, clips)
    reporter.on_sample(200, clips[:1])
    messages = [event.payload["message"] for event in
                RunEvent.objects.filter(run_id=reporter.holder.job.pk, kind="sample").order_by("seq")]
    assert messages == ["Validation sample 1 of 2 at step 100", "Validation sample 2 of 2 at step 100",
                        "Validation sample at step 200"]
