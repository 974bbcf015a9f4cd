"""Coming back: resuming a draft at its step, a new training from a dataset, the dashboard's way into the wizard."""

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
