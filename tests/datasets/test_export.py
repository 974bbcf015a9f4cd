"""A dataset downloaded as one ZIP: what is in it, who may have it, and that the upload and the trainer read it."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from datasets import export
from datasets.models import ClipPair, Dataset
from engine.dataset import read_manifest
from engine.media import probe
from tests.wizard.flow import pairs, start, upload
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


def _dataset_with_two_ready_pairs_and_one_not(maya: Client, clips) -> TrainingDraft:
    draft = start(maya)  # Restoration: trigger phrase ENHANCE QUALITY
    Dataset.objects.filter(pk=draft.dataset_id).update(name="Street fixes: v2")
    upload(maya, draft, {
        "walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(), "walk.txt": b"a sunny walk",
        "run.mp4": clips("t2.mp4", source="testsrc2"), "run_ref.mp4": clips.ref("r2.mp4"),
        "run.txt": b"Enhance quality, a runner at dusk",
        "bad.mp4": clips("t.mp4", fps=24), "bad_ref.mp4": clips("r.mp4", fps=30),
    })
    statuses = {name: pair.status for name, pair in pairs(draft).items()}
    assert statuses == {"walk": ClipPair.Status.OK, "run": ClipPair.Status.OK, "bad": ClipPair.Status.ERROR}
    return draft


def _download(client: Client, dataset_id: int) -> zipfile.ZipFile:
    response: Any = client.get(f"/wizard/datasets/{dataset_id}/download/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="Street-fixes-v2.zip"'
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_the_zip_holds_the_ready_pairs_and_a_manifest_with_captions_as_trained(maya, clips):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    archive = _download(maya, draft.dataset_id)
    assert sorted(archive.namelist()) == [
        "Street-fixes-v2/dataset.jsonl",
        "Street-fixes-v2/references/run.mp4", "Street-fixes-v2/references/walk.mp4",
        "Street-fixes-v2/targets/run.mp4", "Street-fixes-v2/targets/walk.mp4",
    ]
    assert archive.read("Street-fixes-v2/targets/walk.mp4") == clips("t.mp4").read_bytes()
    assert archive.read("Street-fixes-v2/references/walk.mp4") == clips.ref().read_bytes()
    rows = [json.loads(line) for line in archive.read("Street-fixes-v2/dataset.jsonl").decode().splitlines()]
    assert sorted(rows, key=lambda row: row["media_path"]) == [
        {"caption": "Enhance quality, a runner at dusk", "media_path": "targets/run.mp4",
         "reference_path": "references/run.mp4"},  # the creator had already put the trigger phrase in
        {"caption": "ENHANCE QUALITY a sunny walk", "media_path": "targets/walk.mp4",
         "reference_path": "references/walk.mp4"},
    ]


def test_the_trainer_reads_the_unpacked_zip_as_it_is(maya, clips, tmp_path: Path):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    _download(maya, draft.dataset_id).extractall(tmp_path)
    manifest = read_manifest(tmp_path / "Street-fixes-v2" / "dataset.jsonl")
    assert [(probe(pair.video).frames, probe(pair.reference).frames) for pair in manifest] == [(48, 48), (48, 48)]
    assert sorted(pair.caption for pair in manifest) == ["ENHANCE QUALITY a sunny walk",
                                                         "Enhance quality, a runner at dusk"]


def test_uploading_the_zip_again_gives_the_same_pairs_and_captions(maya, clips):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    archive = _download(maya, draft.dataset_id)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as copy:
        for name in archive.namelist():
            copy.writestr(name, archive.read(name))
    again = start(maya)
    upload(maya, again, {"Street-fixes-v2.zip": buffer.getvalue()})
    assert {name: (p.caption, p.status) for name, p in pairs(again).items()} == {
        "walk": ("ENHANCE QUALITY a sunny walk", ClipPair.Status.OK),
        "run": ("Enhance quality, a runner at dusk", ClipPair.Status.OK),
    }


def test_the_dataset_page_offers_the_download_and_says_what_is_left_out(maya, clips):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    page = maya.get(f"/wizard/datasets/{draft.dataset_id}/").content.decode()
    assert f'href="/wizard/datasets/{draft.dataset_id}/download/"' in page
    assert "the 2 pairs ready to train" in page and "1 pair not ready to train is left out" in page


def test_a_dataset_with_nothing_ready_says_so_instead_of_an_empty_zip(maya):
    draft = start(maya)
    page = maya.get(f"/wizard/datasets/{draft.dataset_id}/").content.decode()
    assert "Nothing to download yet" in page and "/download/" not in page
    response = maya.get(f"/wizard/datasets/{draft.dataset_id}/download/", follow=True)
    assert "no pair of this dataset is ready to train" in response.content.decode()


def test_another_creator_cannot_download_the_dataset(maya, clips, other_creator):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    otto = Client()
    otto.force_login(other_creator)
    assert otto.get(f"/wizard/datasets/{draft.dataset_id}/download/").status_code == 404


def test_the_zip_is_made_a_chunk_at_a_time(maya, clips, monkeypatch):
    draft = _dataset_with_two_ready_pairs_and_one_not(maya, clips)
    monkeypatch.setattr(export, "CHUNK", 4096)
    included, _ = export.exported_pairs(draft.dataset)
    chunks = list(export.zip_chunks(draft.dataset, included))
    assert sum(map(len, chunks)) > 20 * 4096
    assert max(map(len, chunks)) <= 4096 + 512  # a chunk of a clip and at most a member's header
