"""Coming back: resuming a draft at its step, a new training from a dataset, the dashboard's way into the wizard;
one plan for a draft, which the clips' notes and the launch summary both show."""

import re

import pytest

from datasets.models import Dataset
from tests.wizard.flow import settings_post
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


def test_a_creator_can_leave_and_come_back_to_the_step_they_were_on(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, steps=450))
    maya.get(f"/wizard/{ready_draft.pk}/launch/")
    assert maya.get(f"/wizard/{ready_draft.pk}/")["Location"] == f"/wizard/{ready_draft.pk}/launch/"
    assert 'value="450"' in maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    index = maya.get("/wizard/").content.decode()
    assert "Continue where you left off" in index and f"/wizard/{ready_draft.pk}/" in index


def test_a_dataset_can_be_reused_for_a_new_training(maya, ready_draft):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft))
    maya.post(f"/wizard/{ready_draft.pk}/launch/")
    response = maya.post(f"/wizard/datasets/{ready_draft.dataset_id}/new-training/")
    second = TrainingDraft.objects.latest("pk")
    assert second.pk != ready_draft.pk and second.dataset_id == ready_draft.dataset_id
    assert response["Location"] == f"/wizard/{second.pk}/settings/"
    page = maya.get(f"/wizard/datasets/{ready_draft.dataset_id}/").content.decode()
    assert "Waiting for a GPU" in page and "Draft" in page


def test_the_dashboard_points_into_the_wizard(maya, ready_draft):
    page = maya.get("/dashboard/").content.decode()
    assert 'href="/wizard/"' in page and f'href="/wizard/datasets/{ready_draft.dataset_id}/"' in page
    assert Dataset.objects.count() == 1


def _launch_plan(page: str) -> tuple[str, int, float]:
    """Size, frames and frame rate as the launch step says the clips are used."""
    found = re.search(r"Clips used as (\d+×\d+), (\d+) frames at ([\d.]+) fps", page)
    assert found is not None
    return found.group(1), int(found.group(2)), float(found.group(3))


def test_after_choosing_another_preset_the_clips_notes_say_what_the_launch_step_says(maya, ready_draft):
    # walk is 160×128, 2 s at 24 fps. The tiny model's Balanced trains 160×96 at 25 frames, Quick 128×96 at 17.
    base = f"/wizard/{ready_draft.pk}"
    size, frames, fps = _launch_plan(maya.get(f"{base}/launch/").content.decode())
    notes = maya.get(f"{base}/clips/").content.decode()
    assert (size, frames) == ("160×96", 25)
    assert f"Training uses the first {frames / fps:.2f} s ({frames} frames) of 2.00 s." in notes
    assert f"Cropped to {size}" in notes and f"the part training keeps at {size}" in notes

    # Choosing the preset is enough (as the page does it, without pressing Save): it is the draft's plan now.
    maya.post(f"{base}/settings/", {"action": "preset", "preset": "quick", "trigger_phrase": "ENHANCE QUALITY"},
              HTTP_HX_REQUEST="true")

    size, frames, fps = _launch_plan(maya.get(f"{base}/launch/").content.decode())
    notes = maya.get(f"{base}/clips/").content.decode()
    assert (size, frames) == ("128×96", 17)
    assert f"Gives 2 training clips of {frames / fps:.2f} s, one after another, from its 2.00 s." in notes
    assert f"Cropped to {size}" in notes and f"the part training keeps at {size}" in notes
    assert "160×96" not in notes and "25 frames" not in notes
    assert 'value="quick" checked' in maya.get(f"{base}/settings/").content.decode()


def test_a_preset_that_cannot_work_is_shown_but_not_kept(maya, ready_draft, settings):
    settings.TRAINING_GPU_MEMORY_GB = 1
    settings.MODEL_PRESET = "ltx-2.3"  # the real model's estimate: no preset fits a 1 GB card
    saved = ready_draft.settings

    page = maya.post(f"/wizard/{ready_draft.pk}/settings/", {"action": "preset", "preset": "high"},
                     HTTP_HX_REQUEST="true").content.decode()

    ready_draft.refresh_from_db()
    assert 'value="high" checked' in page
    assert (ready_draft.preset, ready_draft.settings) == ("balanced", saved)
