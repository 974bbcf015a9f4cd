"""Deleting a dataset: its pairs, drafts and files go, unless runs or studio generations still use them."""

import pytest
from django.core.files.storage import default_storage
from django.test import Client

from datasets.models import ClipPair, Dataset
from tests.wizard.flow import pairs, start, upload
from training.models import TrainingRun
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


def test_deleting_a_dataset_removes_its_pairs_drafts_and_files(maya, clips, django_capture_on_commit_callbacks):
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    stored = [name for record in draft.dataset.files.all() for name in record.stored_names]
    assert stored and all(default_storage.exists(name) for name in stored)
    page = maya.get(f"/wizard/datasets/{draft.dataset_id}/").content.decode()
    assert "Its 1 pair and every uploaded file go for good" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = maya.post(f"/wizard/datasets/{draft.dataset_id}/delete/", follow=True)
    assert "was deleted, with its clips" in response.content.decode()
    assert not Dataset.objects.exists() and not ClipPair.objects.exists() and not TrainingDraft.objects.exists()
    assert not any(default_storage.exists(name) for name in stored)


def test_a_dataset_that_runs_were_trained_on_stays_until_they_are_deleted(maya, creator):
    from tests.factories import make_dataset, make_run

    dataset = make_dataset(creator, name="Streets")
    make_run(creator, dataset=dataset, name="Streets v1", state=TrainingRun.State.SUCCEEDED)
    assert "Delete them first" in maya.get(f"/wizard/datasets/{dataset.pk}/").content.decode()
    response = maya.post(f"/wizard/datasets/{dataset.pk}/delete/", follow=True)
    assert "1 training run was trained on this dataset (“Streets v1”)" in response.content.decode()
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_another_creator_cannot_delete_a_dataset(creator, other_creator):
    from tests.factories import make_dataset

    dataset = make_dataset(creator)
    otto = Client()
    otto.force_login(other_creator)
    assert otto.post(f"/wizard/datasets/{dataset.pk}/delete/").status_code == 404
    assert Dataset.objects.filter(pk=dataset.pk).exists()


def test_a_clip_a_studio_generation_uses_outlives_its_dataset(maya, creator, clips, django_capture_on_commit_callbacks):
    from studio.models import Generation

    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    reference = pairs(draft)["walk"].reference_file.name
    Generation.objects.create(owner=creator, prompt="p", state="succeeded", reference_file=reference)
    with django_capture_on_commit_callbacks(execute=True):
        maya.post(f"/wizard/datasets/{draft.dataset_id}/delete/")
    assert not Dataset.objects.exists() and default_storage.exists(reference)
