"""The launch step: the summary, the run it queues, whole clips cut into several and sample clips kept out."""

import pytest

from tests.wizard.flow import pairs, settings_post, start, upload
from training.models import MeasuredSpeed, TrainingRun

pytestmark = pytest.mark.django_db


def test_launch_creates_the_run_queues_it_and_opens_the_run_page(maya, ready_draft, creator):
    pair = pairs(ready_draft)["walk"]
    saved = maya.post(f"/wizard/{ready_draft.pk}/settings/",
                      settings_post(ready_draft, validation_pairs=[pair.pk], validation_prompts="a rainy walk"))
    assert saved["Location"] == f"/wizard/{ready_draft.pk}/launch/"
    summary = maya.get(saved["Location"]).content.decode()
    assert "Launch training" in summary and "300 steps" in summary and "128×96, 33 frames" in summary
    response = maya.post(f"/wizard/{ready_draft.pk}/launch/")
    run = TrainingRun.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/"
    assert (run.owner, run.dataset, run.state, run.total_steps) == (creator, ready_draft.dataset, "queued", 300)
    assert run.config["bucket"] == {"width": 128, "height": 96, "frames": 33, "fps": 24.0}
    assert run.config["validation"]["prompts"] == ["a rainy walk"]
    assert run.config["validation"]["reference_videos"] == [pair.reference_file.name]
    again = maya.post(f"/wizard/{ready_draft.pk}/launch/")  # a second click does not start a second run
    assert again["Location"] == f"/runs/{run.pk}/" and TrainingRun.objects.count() == 1


def test_with_all_of_each_clip_the_clips_and_launch_say_how_many_training_clips_and_the_run_cuts_them(
    maya, ready_draft
):
    # walk is 48 frames at 24 fps: two whole clips of 17 frames.
    saved = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=17, whole_clips="on"))
    assert saved.status_code == 302

    clips_page = maya.get(f"/wizard/{ready_draft.pk}/clips/").content.decode()
    summary = maya.get(f"/wizard/{ready_draft.pk}/launch/").content.decode()
    maya.post(f"/wizard/{ready_draft.pk}/launch/")

    assert "Gives 2 training clips of 0.71 s, one after another, from its 2.00 s." in clips_page
    assert "Long clips cut into several: 2 training clips from 1 pair" in summary
    assert TrainingRun.objects.get().config["data"]["whole_clips"] is True


def test_without_all_of_each_clip_the_clips_step_says_how_much_is_left_unused(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=17))

    page = maya.get(f"/wizard/{ready_draft.pk}/clips/").content.decode()

    assert "Training uses the first 0.71 s (17 frames) of 2.00 s. Turn on “Use all of each clip”" in page


def test_sample_clips_can_be_kept_out_of_training_when_enough_pairs_are_left(maya, clips):
    draft = start(maya)
    upload(maya, draft, {f"{n}.mp4": clips(f"{n}.mp4") for n in ("a", "b", "c")}
           | {f"{n}_ref.mp4": clips.ref(f"{n}_ref.mp4") for n in ("a", "b", "c")})
    by_name = pairs(draft)
    too_many = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, validation_pairs=[by_name["a"].pk, by_name["b"].pk], validation_prompts="one\ntwo",
        hold_out_validation="on"))
    assert too_many.status_code == 422 and "Only 1 pair would be left to train on" in too_many.content.decode()
    none_chosen = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(draft, hold_out_validation="on"))
    assert "Choose the sample clips to keep out of training first." in none_chosen.content.decode()
    saved = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, validation_pairs=[by_name["b"].pk], validation_prompts="a rainy walk", hold_out_validation="on"))
    assert saved.status_code == 302
    assert "1 sample clip kept out of training" in maya.get(saved["Location"]).content.decode()
    maya.post(f"/wizard/{draft.pk}/launch/")
    assert TrainingRun.objects.get().config["held_out_pairs"] == [by_name["b"].pk]


def test_the_launch_page_says_what_the_time_counts_and_what_it_is_based_on(maya, ready_draft, settings):
    saved = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft))
    first = maya.get(saved["Location"]).content.decode()
    assert "Until the adapter is ready" in first and "waiting for a free machine comes on top" in first
    assert "this server has not trained at this size yet" in first
    assert "docs/" not in first and "rank 32" not in first

    shape = {"model": settings.MODEL_PRESET, "width": 128, "height": 96, "frames": 33, "reference_downscale": 1,
             "rank": 16}
    for stage in ("prepare", "load", "step", "sample", "save"):
        MeasuredSpeed.objects.create(stage=stage, seconds=1.0, runs=2, **shape)
    again = maya.get(saved["Location"]).content.decode()
    assert "An estimate based on the last 2 runs on this server." in again
