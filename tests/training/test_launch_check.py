"""A run's settings are judged when the creator launches it, not first on the GPU worker."""

import pytest

from datasets.recipes import RECIPES
from engine.model_paths import MODEL_PRESETS
from tests.factories import make_run
from training.models import TrainingRun
from training.runs import RunStateError, check_config, launch_run
from wizard.plan import TRAINING_PRESETS, ClipFacts, preset_settings, to_train_config

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def test_settings_the_engine_refuses_are_refused_at_launch_naming_the_setting(
    creator, django_capture_on_commit_callbacks
):
    run = make_run(creator, config={"optim": {"steps": 0, "learning_rate": 1e-4}})
    with django_capture_on_commit_callbacks() as sent, pytest.raises(RunStateError) as refused:
        launch_run(run)
    assert "optim.steps" in str(refused.value) and "Settings step" in str(refused.value)
    run.refresh_from_db()
    assert run.state == State.DRAFT and not run.events.exists() and not sent  # nothing queued, nothing half-saved


def test_a_setting_the_engine_does_not_know_is_refused_at_launch(creator):
    with pytest.raises(RunStateError, match=r"optim\.stepz: Extra inputs are not permitted"):
        launch_run(make_run(creator, config={"optim": {"stepz": 10}}))


def test_the_settings_a_worker_adds_are_not_asked_of_the_creator(creator):
    # The config the wizard stores has no model, run folder or manifest; held-out pairs are pair ids.
    run = launch_run(make_run(creator, config={"held_out_pairs": [3], "optim": {"steps": 10}}))
    assert run.state == State.QUEUED


@pytest.mark.parametrize("model", MODEL_PRESETS)
@pytest.mark.parametrize("preset", list(TRAINING_PRESETS))
def test_every_recipe_and_preset_of_the_wizard_makes_settings_the_engine_accepts(model, preset):
    facts = ClipFacts(fps=[30.0, 24.0], available_frames=[300, 90], portrait=1, landscape=1)
    for recipe in RECIPES.values():
        values = preset_settings(preset, recipe, facts, model)
        references = [f"users/1/ref-{pk}.mp4" for pk in values.validation_pairs]  # as the wizard's launch gives them
        check_config(to_train_config(values, recipe, references, "run-1"))


def test_a_rule_across_settings_is_refused_in_its_own_words(creator):
    config = {"validation": {"prompts": [], "reference_videos": ["users/1/ref.mp4"]}}
    with pytest.raises(RunStateError, match=r"\(validation has 0 prompts but 1 reference videos\)"):
        launch_run(make_run(creator, config=config))
