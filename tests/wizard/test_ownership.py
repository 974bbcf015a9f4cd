"""Ownership: every wizard page and action is 404 for another creator and needs a signed-in one."""

import pytest

from tests.wizard.flow import pairs, start, upload
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_every_wizard_page_is_404_for_another_creator(client, creator, other_creator, clips):
    client.force_login(creator)
    draft = start(client)
    upload(client, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    pair = pairs(draft)["a"]
    file_id = pair.target_source_id
    client.force_login(other_creator)
    gets = [f"/wizard/{draft.pk}/", f"/wizard/{draft.pk}/recipe/", f"/wizard/{draft.pk}/clips/",
            f"/wizard/{draft.pk}/clips/pairs/", f"/wizard/{draft.pk}/settings/", f"/wizard/{draft.pk}/launch/",
            f"/wizard/files/{file_id}/", f"/wizard/files/{file_id}/poster/", f"/wizard/files/{file_id}/preview/",
            f"/wizard/datasets/{draft.dataset_id}/"]
    posts = [f"/wizard/{draft.pk}/clips/upload/", f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/",
             f"/wizard/{draft.pk}/pairs/{pair.pk}/delete/", f"/wizard/{draft.pk}/files/{file_id}/delete/",
             f"/wizard/{draft.pk}/settings/", f"/wizard/{draft.pk}/launch/", f"/wizard/{draft.pk}/recipe/",
             f"/wizard/datasets/{draft.dataset_id}/new-training/"]
    assert {url: client.get(url).status_code for url in gets} == dict.fromkeys(gets, 404)
    assert {url: client.post(url).status_code for url in posts} == dict.fromkeys(posts, 404)
    assert pairs(draft)["a"].caption == "" and not TrainingRun.objects.exists()


def test_a_file_of_another_dataset_cannot_be_deleted_through_my_draft(maya, creator, clips):
    mine = start(maya)
    other = start(maya)
    upload(maya, other, {"a.mp4": clips("t.mp4")})
    record = other.dataset.files.get()
    assert maya.post(f"/wizard/{mine.pk}/files/{record.pk}/delete/").status_code == 404


def test_the_wizard_needs_a_signed_in_creator(client):
    response = client.get("/wizard/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
