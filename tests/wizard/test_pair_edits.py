"""Editing a pair on the clips step: typing its caption, removing it."""

import pytest
from django.core.files.storage import default_storage

from tests.wizard.flow import pairs, start, upload

pytestmark = pytest.mark.django_db


def test_a_typed_caption_is_saved_through_htmx_and_kept_over_sidecars(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    pair = pairs(draft)["a"]
    response = maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/", {"caption": "  neon street at night "},
                         HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Saved" in response.content.decode()
    assert response.content.decode().lstrip().startswith("<article")
    upload(maya, draft, {"a.txt": b"an older caption"})
    pair.refresh_from_db()
    assert (pair.caption, pair.caption_typed) == ("neon street at night", True)


def test_removing_a_pair_deletes_its_files(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    stored = [f.file.name for f in draft.dataset.files.all()]
    pair = pairs(draft)["a"]
    with django_capture_commits():
        maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/delete/")
    assert not pairs(draft) and not draft.dataset.files.exists()
    assert not any(default_storage.exists(name) for name in stored)


def django_capture_commits():
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)
