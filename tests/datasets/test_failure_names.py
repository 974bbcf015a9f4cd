"""Failure messages name a clip as the creator uploaded it, never by its stored name (`1e81df2bd467_walk.mp4`)."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

import pytest
from django.core.files.storage import default_storage

from datasets import splitting
from datasets.limits import Limits
from datasets.models import DatasetFile
from engine.buckets import Bucket
from engine.dataset import PairError, plan_pair, read_manifest
from prep.models import Extraction
from tests.clips import truncate, two_shot_pair
from tests.factories import make_run
from tests.wizard.flow import pairs, start, upload
from tests.wizard.test_derive import make_all
from training.storage import DatasetNotReady, fetch_stored, materialize_dataset

pytestmark = pytest.mark.django_db


def stored_name(draft, name: str) -> str:
    """The stored file's own name: a random prefix, then the name it was uploaded under."""
    stored = PurePosixPath(draft.dataset.files.get(name=name).file.name).name
    assert stored != PurePosixPath(name).name and stored.endswith(PurePosixPath(name).name)
    return stored


@pytest.mark.usefixtures("without_depth_or_pose")
def test_an_edge_map_that_cannot_be_made_names_the_clip_as_it_was_uploaded(maya, clips, tmp_path, settings):
    # Cut off before its index (stored at the end without faststart): ffmpeg cannot read it at all.
    broken = truncate(clips("late.mp4", frames=96, faststart=False), tmp_path / "truncated.mp4", keep=0.5)
    draft = start(maya, "canny")
    upload(maya, draft, {"truncated.mp4": broken})

    make_all(draft)

    pair = pairs(draft)["truncated"]
    assert pair.extraction is not None and pair.extraction.state == Extraction.State.FAILED
    [message] = pair.messages
    assert message["text"].startswith("The edge map could not be made: truncated.mp4 ")
    assert stored_name(draft, "truncated.mp4") not in message["text"]
    assert settings.MEDIA_ROOT not in message["text"]


def test_a_clip_that_cannot_be_cut_into_shots_is_named_as_it_was_uploaded(maya, tmp_path, settings):
    target, reference = two_shot_pair(tmp_path)
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": target, "walk_ref.mp4": reference})
    stored = draft.dataset.files.get(name="walk_ref.mp4")
    Path(stored.file.path).write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(500))  # damaged after it was checked

    splitting.run_split(pairs(draft)["walk"].pk, Limits())

    text = pairs(draft)["walk"].messages[-1]["text"]
    assert text.startswith("This pair could not be split: walk_ref.mp4 could not be cut (")
    assert stored_name(draft, "walk_ref.mp4") not in text and settings.MEDIA_ROOT not in text


def test_a_pair_the_trainer_refuses_is_named_by_the_files_the_creator_uploaded(maya, clips, creator, tmp_path):
    draft = start(maya)
    upload(maya, draft, {"targets/walk.mp4": clips("t.mp4"), "references/walk_ref.mp4": clips.ref()})
    run = make_run(creator, dataset=draft.dataset)

    [pair] = read_manifest(materialize_dataset(run, tmp_path / "work"))
    with pytest.raises(PairError) as refused:  # 2 s of clip, and the settings ask for 121 frames at 24 fps
        plan_pair(pair, [Bucket(128, 96, 121, 24.0)], 1)

    assert str(refused.value).startswith("pair 1 (walk.mp4 <- walk_ref.mp4): too short")
    assert stored_name(draft, "targets/walk.mp4") not in str(refused.value)


def test_a_validation_clip_gone_from_storage_is_named_as_it_was_uploaded(maya, clips, tmp_path):
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    name = DatasetFile.objects.get(name="walk_ref.mp4").file.name
    default_storage.delete(name)

    with pytest.raises(DatasetNotReady) as gone:
        fetch_stored(name, tmp_path)

    assert str(gone.value) == "The validation clip “walk_ref.mp4” is no longer in storage."


def test_a_stored_clip_without_its_record_loses_only_the_storage_prefix(tmp_path):
    with pytest.raises(DatasetNotReady) as gone:
        fetch_stored("users/1/datasets/2/files/1e81df2bd467_walk_ref.mp4", tmp_path)

    assert str(gone.value) == "The validation clip “walk_ref.mp4” is no longer in storage."
