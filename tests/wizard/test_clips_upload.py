"""The clips step's upload: pairing uploaded files, the limits and refusals, photos kept upright."""

import hashlib
import io

import pytest
from django.core.files.storage import default_storage

from datasets.models import ClipPair, DatasetFile
from tests.clips import NO_REAL_MEDIA, REAL_MEDIA
from tests.helpers import sideways_photo, viewed_pixels
from tests.wizard.flow import pairs, reference_of, start, target_of, upload

pytestmark = pytest.mark.django_db


def test_uploaded_pairs_are_paired_checked_and_shown_side_by_side(maya, clips):
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(),
                                    "walk.txt": b"a man walking down a sunny street\n"})
    assert response.status_code == 302
    pair = pairs(draft)["walk"]
    assert pair.status == ClipPair.Status.OK and pair.caption == "a man walking down a sunny street"
    assert pair.target_file.name == target_of(pair).file.name
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert f'src="/wizard/files/{pair.target_source_id}/"' in page
    assert f'src="/wizard/files/{pair.reference_source_id}/"' in page
    assert "160×128 · 24 fps · 48 frames · 2.0 s" in page
    poster = maya.get(f"/wizard/files/{pair.target_source_id}/poster/")
    assert poster["Content-Type"] == "image/jpeg" and b"".join(poster.streaming_content)[:3] == b"\xff\xd8\xff"
    assert "Ready" in page


def test_an_upload_answers_json_for_the_page_script(maya, clips):
    draft = start(maya)
    handle = io.BytesIO(clips("t.mp4").read_bytes())
    handle.name = "walk.mp4"
    response = maya.post(f"/wizard/{draft.pk}/clips/upload/", {"files": [handle], "paths": ["targets/walk.mp4"]},
                         HTTP_ACCEPT="application/json")
    assert response.json() == {"ok": True, "problems": [], "added": ["targets/walk.mp4"], "replaced": [],
                               "ignored": []}


def test_an_upload_without_files_asks_for_them_plainly(maya):
    draft = start(maya)
    response = maya.post(f"/wizard/{draft.pk}/clips/upload/", {"paths": ["targets/walk.mp4"]},
                         HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["problems"] == ["Choose one or more files to upload."]
    assert not draft.dataset.files.exists()


def test_a_batch_with_one_bad_file_stores_nothing(maya, clips, creator):
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": b"I am not a video at all\n"})
    assert response.status_code == 302
    assert not DatasetFile.objects.exists()
    folder = f"users/{creator.pk}/datasets/{draft.dataset_id}/files"
    assert not default_storage.exists(folder) or default_storage.listdir(folder) == ([], [])
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "walk_ref.mp4 is not a video, image, caption" in page and "Nothing from this upload was kept" in page


def test_files_of_a_failed_upload_are_removed_from_storage(maya, clips, creator, monkeypatch):
    from datasets import services

    draft = start(maya)

    def explode(dataset):
        raise RuntimeError("database went away")

    monkeypatch.setattr(services, "sync_pairs", explode)
    with pytest.raises(RuntimeError):
        upload(maya, draft, {"walk.mp4": clips("t.mp4")})
    assert not DatasetFile.objects.exists()
    _, stored = default_storage.listdir(f"users/{creator.pk}/datasets/{draft.dataset_id}/files")
    assert stored == []


def test_a_file_over_the_size_limit_is_refused_while_streaming(maya, clips, settings):
    settings.WIZARD_MAX_FILE_BYTES = 10_000
    draft = start(maya)
    response = upload(maya, draft, {"walk.mp4": clips("t.mp4")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400
    assert response.json()["problems"] == ["walk.mp4 is larger than the 0 MB limit per file."]
    assert not DatasetFile.objects.exists()


def test_the_dataset_size_limit_is_enforced(maya, clips, settings):
    settings.WIZARD_MAX_DATASET_BYTES = clips("t.mp4").stat().st_size + 10
    draft = start(maya)
    response = upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()},
                      HTTP_ACCEPT="application/json")
    assert "limit is" in response.json()["problems"][0] and "per dataset" in response.json()["problems"][0]


def test_two_files_with_the_same_name_in_one_upload_are_refused(maya, clips):
    draft = start(maya)
    handles = []
    for path in (clips("t.mp4"), clips.ref()):
        handle = io.BytesIO(path.read_bytes())
        handle.name = "clip.mp4"
        handles.append(handle)
    response = maya.post(f"/wizard/{draft.pk}/clips/upload/", {"files": handles}, HTTP_ACCEPT="application/json")
    assert "Two files in this upload are called clip.mp4" in response.json()["problems"][0]
    assert not DatasetFile.objects.exists()


def test_a_file_whose_content_does_not_match_its_name_is_refused(maya):
    draft = start(maya)
    response = upload(maya, draft, {"clip.mp4": b"\x00\x01\x02 random bytes" * 50}, HTTP_ACCEPT="application/json")
    assert "its content is unknown data despite the .mp4 name" in response.json()["problems"][0]


def test_a_phone_photo_stored_sideways_is_kept_upright_for_identity(maya, clips):
    draft = start(maya, "identity")
    photo = sideways_photo()
    upload(maya, draft, {"maya.mp4": clips("t.mp4"), "maya_ref.jpg": photo})
    stored = reference_of(pairs(draft)["maya"])
    with stored.file.open("rb") as handle:
        pixels = viewed_pixels(handle.read())
    assert pixels.shape == (320, 192, 3) and pixels[10, 180, 2] > 150  # portrait, blue patch top-right
    assert stored.size == stored.file.size and stored.sha256 == hashlib.sha256(photo).hexdigest()


def test_an_iphone_heic_photo_is_stored_as_an_upright_jpeg_and_pairs_under_its_own_name(maya, clips):
    draft = start(maya, "identity")
    upload(maya, draft, {"maya.mp4": clips("t.mp4"), "maya_ref.heic": sideways_photo("HEIF")})
    pair = pairs(draft)["maya"]
    stored = reference_of(pair)
    assert stored.name == "maya_ref.heic" and stored.file.name.endswith(".jpg")
    assert pair.status == ClipPair.Status.OK, pair.messages
    with stored.file.open("rb") as handle:
        assert viewed_pixels(handle.read()).shape == (320, 192, 3)


@pytest.mark.skipif(not REAL_MEDIA.is_dir(), reason=NO_REAL_MEDIA)
def test_a_real_restoration_pair_uploads_checks_and_fits_the_settings(maya):
    draft = start(maya)
    upload(maya, draft, {"targets/carphone.mp4": REAL_MEDIA / "carphone_pristine.mp4",
                         "references/carphone.mp4": REAL_MEDIA / "carphone_distorted.mp4",
                         "targets/carphone.txt": b"a man talking in a car, daylight"})
    pair = pairs(draft)["carphone"]
    assert pair.status == ClipPair.Status.OK and pair.target_meta["fps"] == pytest.approx(29.97, abs=0.01)
    page = maya.get(f"/wizard/{draft.pk}/settings/").content.decode()
    assert 'name="fps" value="30.0"' in page or '<option value="30.0" selected>' in page


def test_a_file_name_too_long_to_keep_is_refused_plainly_and_nothing_is_stored(maya, clips):
    draft = start(maya)
    long_name = "a" * 300 + ".mp4"

    response = upload(maya, draft, {long_name: clips("t.mp4")}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert "has a name of 304 characters with its folders; the limit is 255" in response.json()["problems"][0]
    assert not draft.dataset.files.exists()
