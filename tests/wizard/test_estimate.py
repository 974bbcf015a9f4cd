"""The estimate's time: this server's measurements first, then the benchmark tables, then the design figures, and
said to the creator in plain words."""

from __future__ import annotations

import re

import pytest

from wizard.estimate import Estimate, Measured, estimate
from wizard.plan import sample_count

ALL_MEASURED = {"prepare": Measured(2.0, 3), "load": Measured(10.0, 3), "step": Measured(0.5, 4),
                "sample": Measured(4.0, 3), "save": Measured(3.0, 3)}


def test_the_estimate_prefers_this_servers_measurements_and_adds_every_stage():
    guess = estimate("demo", 256, 160, 17, 1, 16, 200, 8, samples=2, measured=ALL_MEASURED)
    assert guess.seconds == 8 * 2.0 + 10.0 + 200 * 0.5 + 2 * 4.0 + 3.0
    assert guess.basis == "based on the last 3 runs on this server"
    assert dict(guess.stage_seconds) == {"prepare": 16.0, "load": 10.0, "step": 100.0, "sample": 8.0, "save": 3.0}


def test_a_size_this_server_has_not_fully_measured_falls_back_to_the_benchmark_tables():
    partly = {stage: speed for stage, speed in ALL_MEASURED.items() if stage != "sample"}
    guess = estimate("demo", 256, 160, 17, 1, 16, 200, 8, samples=2, measured=partly)
    tables = estimate("demo", 256, 160, 17, 1, 16, 200, 8, samples=2)
    assert guess == tables
    assert guess.basis.startswith("based on measurements of this kind of machine")


def test_without_measurements_of_any_kind_the_estimate_says_it_is_a_rough_guess():
    guess = estimate("ltx-2.3", 768, 448, 81, 1, 32, 2000, 20, samples=9)
    assert guess.basis == "a rough guess: this server has not trained at this size yet"
    # Loading, samples and saving count too: more than the steps and the clips alone.
    assert guess.seconds > dict(guess.stage_seconds)["step"] + dict(guess.stage_seconds)["prepare"]


def test_measurements_of_one_run_are_said_in_the_singular_and_of_many_as_the_last_five():
    one = {stage: Measured(speed.seconds, 1) for stage, speed in ALL_MEASURED.items()}
    many = {stage: Measured(speed.seconds, 40) for stage, speed in ALL_MEASURED.items()}
    said = [estimate("tiny", 128, 96, 17, 1, 8, 50, 4, samples=1, measured=m).basis for m in (one, many)]
    assert said == ["based on the last 1 run on this server", "based on the last 5 runs on this server"]


@pytest.mark.parametrize("model", ["tiny", "demo", "ltx-2.3"])
@pytest.mark.parametrize("measured", [None, ALL_MEASURED])
def test_the_wording_never_shows_file_names_sizes_or_settings(model, measured):
    basis = estimate(model, 256, 160, 17, 1, 32, 200, 8, samples=1, measured=measured).basis
    assert not re.search(r"\.md|\.py|docs/|×|\d+ ?px|rank|\d{3}", basis), basis


def test_samples_are_counted_every_so_many_steps_and_once_at_the_end():
    assert sample_count(300, 100, 2) == 6  # at 100, 200 and the end (300)
    assert sample_count(300, 0, 0) == 1  # the end only, of the first pair
    assert sample_count(250, 250, 1) == 1


@pytest.mark.parametrize(("model", "label"), [("tiny", "Memory"), ("demo", "Memory"), ("ltx-2.3", "GPU memory"),
                                              ("ltx-2.5", "GPU memory")])
def test_the_small_models_memory_is_not_called_gpu_memory_as_they_train_on_a_cpu(model, label):
    assert estimate(model, 256, 160, 17, 1, 16, 200, 9).memory_label == label


@pytest.mark.parametrize(("seconds", "text"), [(40, "under a minute"), (80, "about a minute"), (100, "about 2 minutes"),
                                               (14 * 60, "about 15 minutes"), (3 * 3600, "about 3.0 hours")])
def test_the_time_reads_as_a_person_would_say_it(seconds, text):
    assert Estimate(seconds=seconds, memory_gib=1.0, gpu_memory_gib=8.0, source="").time_text == text
