"""Zip archives and manifests uploaded on the clips step: unpacked, paired, or refused with the reason."""

from pathlib import Path

import pytest

from datasets.models import ClipPair, DatasetFile
from tests.wizard.flow import pairs, reference_of, start, target_of, upload, zip_bytes

pytestmark = pytest.mark.django_db


def test_a_zip_with_folders_is_unpacked_and_paired(maya, clips):
    draft = start(maya)
    archive = zip_bytes({"set/targets/walk.mp4": clips("t.mp4").read_bytes(),
                         "set/references/walk.mp4": clips.ref().read_bytes(),
                         "set/targets/walk.txt": b"a sunny walk", "__MACOSX/._walk.mp4": b"junk"})
    upload(maya, draft, {"dataset.zip": archive})
    pair = pairs(draft)["set/walk"]
    assert pair.caption == "a sunny walk" and pair.status == ClipPair.Status.OK
    assert sorted(draft.dataset.files.values_list("name", flat=True)) == [
        "set/references/walk.mp4", "set/targets/walk.mp4", "set/targets/walk.txt"]


def test_an_unsafe_zip_is_refused_whole(maya, clips):
    draft = start(maya)
    archive = zip_bytes({"walk.mp4": clips("t.mp4").read_bytes(), "../../escape.mp4": clips.ref().read_bytes()})
    response = upload(maya, draft, {"dataset.zip": archive}, HTTP_ACCEPT="application/json")
    assert response.status_code == 400 and "outside the archive" in response.json()["problems"][0]
    assert not DatasetFile.objects.exists()


def test_a_manifest_import_pairs_files_and_brings_captions(maya, clips):
    draft = start(maya)
    manifest = b"caption,video,reference_video\nsunny street,clips/one.mp4,clips/one_in.mp4\n"
    upload(maya, draft, {"pairs.csv": manifest, "one.mp4": clips("t.mp4"), "one_in.mp4": clips.ref()})
    pair = pairs(draft)["one"]
    assert (target_of(pair).name, reference_of(pair).name, pair.caption) == (
        "one.mp4", "one_in.mp4", "sunny street")


def test_a_broken_manifest_is_refused_with_the_reason(maya):
    draft = start(maya)
    response = upload(maya, draft, {"pairs.csv": b"caption,video\nx,a.mp4\n"}, HTTP_ACCEPT="application/json")
    assert "reference_video" in response.json()["problems"][0]


def test_a_manifest_nested_too_deeply_is_refused_plainly_and_nothing_is_stored(maya, settings):
    draft = start(maya)

    response = upload(maya, draft, {"pairs.json": b"[" * 200_000}, HTTP_ACCEPT="application/json")

    assert response.status_code == 400
    assert response.json()["problems"] == [
        "The manifest pairs.json is nested too deeply to be a list of clip pairs: a manifest is a list of rows, each "
        "with a caption, a video and a reference. Check that this is the right file."]
    assert not DatasetFile.objects.exists()
    assert not [p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()]
