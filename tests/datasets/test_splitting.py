"""Splitting a pair at its target's cuts: one pair per shot, both clips cut at the same frames."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import default_storage

from datasets import splitting
from datasets.jobs import run_pair_job
from datasets.limits import Limits
from datasets.models import ClipPair, PairJob
from datasets.pairing import role_and_key
from datasets.splitting import Shot, SplitRefused, shot_name, shots
from engine.media import probe
from tests.clips import two_shot_pair
from tests.factories import sent_tasks
from tests.wizard.flow import pairs, start, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_shots(tmp_path: Path) -> dict[str, Path]:
    """A target edited from two shots of 24 frames, and its reference cut at the same frame."""
    target, reference = two_shot_pair(tmp_path)
    return {"walk.mp4": target, "walk_ref.mp4": reference}


def test_shots_lie_between_the_cuts_and_too_short_ones_are_left_out():
    assert shots([1.0, 3.0], 4.0, 24.0) == ([Shot(0.0, 1.0), Shot(1.0, 3.0), Shot(3.0, None)], 0)
    assert shots([0.2, 2.0], 4.0, 24.0) == ([Shot(0.2, 2.0), Shot(2.0, None)], 1)  # 0.2 s is 4.8 frames


@pytest.mark.parametrize(("name", "shot"), [
    ("walk.mp4", "walk_shot2.mp4"),
    ("walk_ref.mp4", "walk_shot2_ref.mp4"),
    ("targets/Walk.mp4", "targets/Walk_shot2.mp4"),
    ("references/Walk.mov", "references/Walk_shot2.mov"),
    ("walk_end.mp4", "walk_shot2_end.mp4"),
    ("walk_start.mp4", "walk_shot2_start.mp4"),
])
def test_a_shot_keeps_the_naming_that_pairs_it(name, shot):
    assert shot_name(name, 2) == shot
    assert role_and_key(shot)[0] == role_and_key(name)[0]


def test_a_pair_cut_at_its_shot_change_becomes_two_checked_pairs_with_its_caption(
    maya, two_shots, django_capture_on_commit_callbacks
):
    draft = start(maya)
    upload(maya, draft, {**two_shots, "walk.txt": b"a street, then a fractal"})
    pair = pairs(draft)["walk"]
    assert pair.target_meta["cuts"] == [1.0]
    assert "Split into 2 shots" in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    originals = [pair.target_file.name, pair.reference_file.name]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/")
    job = PairJob.objects.get(pair=pair)
    assert (job.action, job.state) == (PairJob.Action.SPLIT, PairJob.State.QUEUED)
    assert sent_tasks(callbacks) == [("datasets.tasks.pair_job", (job.pk,))]
    assert ClipPair.objects.get(pk=pair.pk).status == ClipPair.Status.CHECKING
    with django_capture_on_commit_callbacks(execute=True):
        run_pair_job(job.pk, "cpu@test")

    job.refresh_from_db()
    assert (job.state, job.pair, job.pair_name) == (PairJob.State.DONE, None, "walk")  # the pair it split is gone
    after = pairs(draft)
    assert set(after) == {"walk_shot1", "walk_shot2"}
    for new in after.values():
        assert new.status == ClipPair.Status.OK, new.messages  # lengths, rates and shapes match: checked
        assert new.caption == "a street, then a fractal"
        assert new.target_meta["frames"] == new.reference_meta["frames"] == 24
        assert not new.target_meta["cuts"]
    assert not any(default_storage.exists(name) for name in originals)


def test_the_shots_are_the_frames_on_either_side_of_the_cut(
    maya, two_shots, tmp_path, django_capture_on_commit_callbacks
):
    from engine.media import conform

    draft = start(maya)
    upload(maya, draft, two_shots)
    with django_capture_on_commit_callbacks(execute=True):
        splitting.run_split(pairs(draft)["walk"].pk, Limits())

    second = pairs(draft)["walk_shot2"]
    with default_storage.open(second.target_file.name) as stored:
        (tmp_path / "shot2.mp4").write_bytes(stored.read())
    whole = conform(two_shots["walk.mp4"], 24.0, 160, 128, 48)
    shot = conform(tmp_path / "shot2.mp4", 24.0, 160, 128, 24)
    assert probe(tmp_path / "shot2.mp4").frames == 24
    # Re-encoded, so not bit-equal: the same frames, within compression noise, and far from the first shot.
    assert abs(shot.astype(int) - whole[24:].astype(int)).mean() < 4
    assert abs(shot.astype(int) - whole[:24].astype(int)).mean() > 20


def test_a_pair_that_cannot_be_split_keeps_its_files_and_says_why(maya, two_shots, settings):
    draft = start(maya)
    upload(maya, draft, two_shots)
    pair = pairs(draft)["walk"]
    files = sorted(draft.dataset.files.values_list("name", flat=True))

    made = splitting.run_split(pair.pk, Limits(max_dataset_bytes=1))  # the shots would not fit beside the clips

    pair.refresh_from_db()
    assert made == [] and sorted(draft.dataset.files.values_list("name", flat=True)) == files
    assert pair.messages[-1]["code"] == "split_failed" and "could not be split" in pair.messages[-1]["text"]


def test_a_pair_without_cuts_or_from_a_manifest_is_refused_plainly(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref()})
    pair = pairs(draft)["walk"]

    with pytest.raises(SplitRefused, match="has no cut to split at"):
        splitting.check_can_split(pair)
    response = maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/", follow=True)
    assert "“walk” has no cut to split at." in response.content.decode()


def test_another_creator_cannot_split_a_pair(maya, two_shots, client, other_creator):
    draft = start(maya)
    upload(maya, draft, two_shots)
    pair = pairs(draft)["walk"]
    client.force_login(other_creator)

    assert client.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/").status_code == 404
    assert ClipPair.objects.get(pk=pair.pk).status == ClipPair.Status.WARNING  # its cut, still untouched


def test_an_identity_pair_keeps_its_still_for_every_shot(maya, two_shots, clips, django_capture_on_commit_callbacks):
    draft = start(maya, "identity")
    upload(maya, draft, {"walk.mp4": two_shots["walk.mp4"], "walk_ref.png": clips.image("face.png")})
    pair = pairs(draft)["walk"]
    assert pair.target_meta["cuts"] == [1.0]

    with django_capture_on_commit_callbacks(execute=True):
        splitting.run_split(pair.pk, Limits())

    assert sorted(draft.dataset.files.values_list("name", flat=True)) == [
        "walk_shot1.mp4", "walk_shot1_ref.png", "walk_shot2.mp4", "walk_shot2_ref.png"]
    assert {p.status for p in pairs(draft).values()} == {ClipPair.Status.OK}


def test_every_pair_with_cuts_is_split_at_once(maya, tmp_path, django_capture_on_commit_callbacks):
    draft = start(maya)
    files: dict[str, bytes | Path] = {}
    for name in ("walk", "ride"):
        target, reference = two_shot_pair(tmp_path, name)
        files |= {f"{name}.mp4": target, f"{name}_ref.mp4": reference}
    upload(maya, draft, files)
    assert "2 pairs change shot part-way through." in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        page = maya.post(f"/wizard/{draft.pk}/pairs/split/", follow=True).content.decode()

    assert "Cutting 2 pairs into their shots." in page
    jobs = PairJob.objects.filter(dataset=draft.dataset, action=PairJob.Action.SPLIT)
    assert sorted(args for _, args in sent_tasks(callbacks)) == sorted((job.pk,) for job in jobs)
    assert sorted(job.pair_id for job in jobs) == sorted(p.pk for p in pairs(draft).values())
    with django_capture_on_commit_callbacks(execute=True):
        for task_args in sent_tasks(callbacks):
            run_pair_job(task_args[1][0], "cpu@test")
    assert sorted(pairs(draft)) == ["ride_shot1", "ride_shot2", "walk_shot1", "walk_shot2"]


def test_a_second_click_while_the_pair_is_being_split_is_refused(maya, two_shots, django_capture_on_commit_callbacks):
    draft = start(maya)
    upload(maya, draft, two_shots)
    pair = pairs(draft)["walk"]

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/")
        again = maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/split/", follow=True).content.decode()

    assert "“walk” is being checked or split already: wait until it is done." in again
    assert len(sent_tasks(callbacks)) == 1
