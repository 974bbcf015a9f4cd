"""What the run page says about progress: each stage with its own progress, and every duration said one way."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import make_run
from training.models import TrainingRun
from training.progress import about, run_stages, stage_text, time_left

pytestmark = pytest.mark.django_db
State, Stage = TrainingRun.State, TrainingRun.Stage


@pytest.mark.parametrize(
    ("seconds", "said"),
    [
        (0, "a few seconds"),
        (2, "a few seconds"),
        (3, "about 5 s"),
        (40, "about 40 s"),
        (42, "about 40 s"),
        (43, "about 45 s"),
        (55, "about 55 s"),
        (58, "about 1 min"),
        (89, "about 1 min"),
        (90, "about 2 min"),
        (125, "about 2 min"),
        (59 * 60 + 29, "about 59 min"),
        (59 * 60 + 31, "about 1 h"),
        (80 * 60, "about 1 h 20 min"),
        (26 * 3600, "about 26 h"),
        (None, ""),
        (float("inf"), ""),
        (float("nan"), ""),
        (-5, ""),
    ],
)
def test_durations_are_said_the_one_way_people_say_them(seconds, said):
    assert about(seconds) == said


def test_a_live_estimate_keeps_one_form_as_it_counts_down():
    """The page once switched between "about 2 min 5 s" and "about 125 s" for the same time left."""
    said = {time_left(seconds) for seconds in range(95, 150)}
    assert said == {"about 2 min left"}
    assert time_left(None) == ""


def test_the_stage_words_say_which_clip_or_sample_is_under_way():
    assert stage_text(Stage.PREPARING, 3, 9) == "Preparing clip 3 of 9"
    assert stage_text(Stage.PREPARING, 0, 0) == "Getting your clips"
    assert stage_text(Stage.LOADING, 0, 0) == "Getting the model ready to train"
    assert stage_text(Stage.SAMPLING, 2, 3) == "Making sample 2 of 3"


def test_the_engine_reports_the_stages_the_run_records():
    from engine.train import LOADING, PREPARING, SAMPLING

    assert {PREPARING, LOADING, SAMPLING} < set(Stage.values)


def lines(run: TrainingRun, runs_ahead: int | None = None) -> list[tuple[str, str, str, int | None]]:
    return [(line.key, line.status, line.detail, line.percent) for line in run_stages(run, runs_ahead)]


def test_a_waiting_run_says_how_long_it_has_waited_and_its_place_in_line(creator):
    run = make_run(creator, state=State.QUEUED, queued_at=timezone.now() - timedelta(minutes=3, seconds=10))
    assert lines(run, runs_ahead=2) == [
        ("waiting", "current", "Waiting for about 3 min so far. 2 trainings ahead of yours.", None),
        ("preparing", "todo", "", None),
        ("training", "todo", "", None),
        ("sampling", "todo", "", None),
        ("saving", "todo", "", None),
    ]
    assert run_stages(run, runs_ahead=0)[0].detail.endswith("Yours is next in line.")


def test_preparing_shows_the_clip_under_way_with_a_bar_of_its_own(creator):
    run = make_run(
        creator,
        state=State.PREPARING,
        started_at=timezone.now(),
        stage=Stage.PREPARING,
        stage_done=3,
        stage_total=9,
        total_steps=100,
    )
    assert lines(run)[:3] == [
        ("waiting", "done", "", None),
        ("preparing", "current", "Preparing clip 3 of 9", 22),
        ("training", "todo", "", None),
    ]


def test_a_stage_left_from_an_earlier_attempt_is_not_shown_while_preparing_again(creator):
    run = make_run(
        creator, state=State.PREPARING, started_at=timezone.now(), stage=Stage.TRAINING, step=40, total_steps=100
    )
    assert lines(run)[1] == ("preparing", "current", "Getting your clips", None)


def test_training_shows_the_step_and_the_time_left_with_the_clips_ticked(creator):
    run = make_run(
        creator,
        state=State.TRAINING,
        started_at=timezone.now(),
        stage=Stage.TRAINING,
        step=40,
        total_steps=100,
        eta_seconds=125.0,
    )
    assert lines(run)[:4] == [
        ("waiting", "done", "", None),
        ("preparing", "done", "", None),
        ("training", "current", "Step 40 of 100 · about 2 min left", 40),
        ("sampling", "todo", "", None),
    ]
    run.stage = Stage.LOADING
    run.step = 0
    assert lines(run)[2] == ("training", "current", "Getting the model ready to train", None)


def test_samples_made_part_way_leave_training_waiting_not_done(creator):
    run = make_run(
        creator,
        state=State.TRAINING,
        started_at=timezone.now(),
        stage=Stage.SAMPLING,
        stage_done=2,
        stage_total=4,
        step=50,
        total_steps=100,
    )
    assert lines(run)[2:4] == [
        ("training", "paused", "Step 50 of 100 · goes on once the samples are made", 50),
        ("sampling", "current", "Making sample 2 of 4", 25),
    ]
    run.step = 100  # the last samples, after the last step
    assert lines(run)[2:4] == [
        ("training", "done", "100 steps", None),
        ("sampling", "current", "Making sample 2 of 4", 25),
    ]


def test_saving_the_adapter_comes_last_and_a_finished_run_has_every_stage_ticked(creator):
    saving = make_run(creator, state=State.FINISHING, started_at=timezone.now(), step=100, total_steps=100)
    assert [(key, status) for key, status, _, _ in lines(saving)] == [
        ("waiting", "done"),
        ("preparing", "done"),
        ("training", "done"),
        ("sampling", "done"),
        ("saving", "current"),
    ]
    done = make_run(creator, state=State.SUCCEEDED, started_at=timezone.now(), step=100, total_steps=100)
    assert {status for _, status, _, _ in lines(done)} == {"done"} and lines(done)[2][2] == "100 steps"


def test_a_run_that_failed_or_was_stopped_marks_the_stage_it_ended_in(creator):
    failed = make_run(creator, state=State.FAILED, started_at=timezone.now(), stage=Stage.PREPARING)
    assert [(key, status) for key, status, _, _ in lines(failed)][:3] == [
        ("waiting", "done"),
        ("preparing", "stopped"),
        ("training", "todo"),
    ]
    assert run_stages(failed)[1].detail == "Failed here."
    stopped = make_run(
        creator, state=State.CANCELLED, started_at=timezone.now(), stage=Stage.TRAINING, step=7, total_steps=100
    )
    assert lines(stopped)[2][:3] == ("training", "stopped", "Stopped here.")
    never_started = make_run(creator, state=State.CANCELLED)
    assert lines(never_started)[0][:2] == ("waiting", "stopped")


def test_a_draft_has_every_stage_still_to_come(creator):
    assert {status for _, status, _, _ in lines(make_run(creator))} == {"todo"}
