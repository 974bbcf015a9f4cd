"""Identity with reference voices through the wizard: voice clips uploaded beside the clips and stills, paired by
name, checked, shown with a player, exported, and trained with (the run's config and the manifest the worker
writes)."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from django.test import Client

from datasets.models import ClipPair, DatasetFile
from tests.datasets.voices import silence, tone
from tests.wizard.flow import pairs, settings_post, start, upload, voice_of
from training.models import TrainingRun
from training.storage import materialize_dataset

pytestmark = pytest.mark.django_db

VOICE_SENTENCE = "so the adapter also learns the person"


@pytest.fixture
def voice_files(clips, tmp_path):
    """Two clips with their own sound (2 s), a still of each, and a 6 s voice for each, named two ways."""
    return {
        "walk.mp4": clips("walk.mp4", audio=True), "walk_ref.png": clips.image("walk_ref.png"),
        "walk_voice.wav": tone(tmp_path / "walk_voice.wav", 6, rate=22050),
        "talk.mp4": clips("talk.mp4", audio=True, source="mandelbrot"), "talk_ref.png": clips.image("talk_ref.png"),
        "voices/talk.m4a": tone(tmp_path / "talk.m4a", 7),
    }


def test_voices_go_from_upload_to_the_runs_config_and_the_training_manifest(maya, clips, voice_files, tmp_path):
    draft = start(maya, "identity")
    clips_page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "audio/*" in clips_page and "clip_voice.wav" in clips_page

    assert upload(maya, draft, voice_files).status_code == 302
    found = pairs(draft)
    assert sorted(found) == ["talk", "walk"]
    for pair in found.values():
        assert pair.status == ClipPair.Status.OK, pair.messages
        assert pair.voice_meta["duration"] >= 6
    assert voice_of(found["walk"]).name == "walk_voice.wav"
    assert voice_of(found["talk"]).name == "voices/talk.m4a"
    assert voice_of(found["walk"]).kind == DatasetFile.Kind.AUDIO

    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    voice = voice_of(found["walk"])
    assert f'<audio src="/wizard/files/{voice.pk}/"' in page and "Voice clip of walk" in page
    assert "6.0 s · 22.05 kHz" in page
    assert "is ignored, training uses the picture only" not in page  # with voices, the clips' sound is trained
    served = maya.get(f"/wizard/files/{voice.pk}/")
    assert served.status_code == 200 and served["Content-Type"] == "audio/x-wav"

    saved = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, trigger_phrase="", validation_pairs=[found["walk"].pk], validation_prompts="walking and talking"))
    assert saved["Location"] == f"/wizard/{draft.pk}/launch/"
    assert VOICE_SENTENCE in maya.get(f"/wizard/{draft.pk}/settings/").content.decode()
    summary = maya.get(saved["Location"]).content.decode()
    assert VOICE_SENTENCE in summary and "Studio will ask for a voice clip" in summary

    launched = maya.post(f"/wizard/{draft.pk}/launch/")
    run = TrainingRun.objects.get()
    assert launched["Location"] == f"/runs/{run.pk}/"
    assert run.config["data"]["reference_audio"] is True and run.config["diffusion"]["audio"] == "clip"
    # The sample clip's voice goes with its still, as storage names the worker downloads.
    assert run.config["validation"]["reference_videos"] == [found["walk"].reference_file.name]
    assert run.config["validation"]["reference_audios"] == [found["walk"].voice_file.name]

    manifest = materialize_dataset(run, tmp_path / "work")
    rows = list(csv.DictReader(io.StringIO(manifest.read_text(encoding="utf-8"))))
    assert [row["reference_audio"].rsplit("/", 1)[-1] for row in rows] == ["talk.m4a", "walk_voice.wav"]
    assert Path(rows[1]["reference_audio"]).read_bytes()[:4] == b"RIFF"  # the stored voice, fetched for the worker
    # engine.dataset: torch is loaded only here, where the worker reads the manifest
    from engine.dataset import read_manifest

    assert [Path(p.reference_audio or "").name for p in read_manifest(manifest)] == ["talk.m4a", "walk_voice.wav"]


def test_a_dataset_without_voices_trains_as_before(maya, clips):
    draft = start(maya, "identity")
    upload(maya, draft, {"walk.mp4": clips("walk.mp4"), "walk_ref.png": clips.image("walk_ref.png")})
    assert pairs(draft)["walk"].status == ClipPair.Status.OK
    maya.post(f"/wizard/{draft.pk}/settings/", settings_post(draft, trigger_phrase=""))
    assert VOICE_SENTENCE not in maya.get(f"/wizard/{draft.pk}/launch/").content.decode()
    maya.post(f"/wizard/{draft.pk}/launch/")
    config = TrainingRun.objects.get().config
    assert "reference_audio" not in config["data"] and config["diffusion"]["audio"] != "clip"
    assert "reference_audios" not in config["validation"]


def test_bad_voices_and_clips_without_sound_or_voice_are_shown_and_block_launch(maya, clips, tmp_path):
    draft = start(maya, "identity")
    upload(maya, draft, {
        "walk.mp4": clips("walk.mp4", audio=True), "walk_ref.png": clips.image("walk_ref.png"),
        "walk_voice.wav": tone(tmp_path / "w.wav", 2),
        "hush.mp4": clips("hush.mp4", audio=True), "hush_ref.png": clips.image("hush_ref.png"),
        "hush_voice.wav": silence(tmp_path / "h.wav", 6),
        "mute.mp4": clips("mute.mp4"), "mute_ref.png": clips.image("mute_ref.png"),
        "mute_voice.mp3": tone(tmp_path / "m.mp3", 6),
        "lone.mp4": clips("lone.mp4", audio=True), "lone_ref.png": clips.image("lone_ref.png"),
        "ghost_voice.wav": tone(tmp_path / "g.wav", 6),
    })
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    assert 'data-code="voice_too_short"' in page and "2.0 s is too short" in page
    assert 'data-code="voice_silent"' in page
    assert 'data-code="target_no_sound"' in page and "This clip has no sound" in page
    assert 'data-code="no_voice"' in page and "Upload lone_voice.wav" in page
    assert "Voice clips without a clip of the same name" in page and "ghost_voice.wav" in page
    assert "Clips without a voice clip" in page and "<code>lone.mp4</code>" in page
    launch = maya.post(f"/wizard/{draft.pk}/launch/")
    assert launch.status_code == 200 and "cannot start yet" in launch.content.decode()
    assert not TrainingRun.objects.exists()


def test_a_pair_removed_takes_its_voice_clip_with_it(maya, clips, voice_files):
    draft = start(maya, "identity")
    upload(maya, draft, voice_files)
    walk = pairs(draft)["walk"]
    maya.post(f"/wizard/{draft.pk}/pairs/{walk.pk}/delete/")
    assert not draft.dataset.files.filter(name__startswith="walk").exists()
    assert sorted(pairs(draft)) == ["talk"]


def test_another_creator_cannot_listen_to_a_voice_clip(maya, clips, voice_files, other_creator):
    draft = start(maya, "identity")
    upload(maya, draft, voice_files)
    voice = voice_of(pairs(draft)["walk"])
    other = Client()
    other.force_login(other_creator)
    assert other.get(f"/wizard/files/{voice.pk}/").status_code == 404


def test_the_dataset_zip_holds_the_voices_and_the_reference_audio_column(maya, clips, voice_files):
    draft = start(maya, "identity")
    upload(maya, draft, voice_files)
    response = maya.get(f"/wizard/datasets/{draft.dataset.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    folder = archive.namelist()[0].split("/")[0]
    rows = [json.loads(line) for line in archive.read(f"{folder}/dataset.jsonl").decode().splitlines()]
    assert {row["media_path"]: row["reference_audio"] for row in rows} == {
        "targets/talk.mp4": "voices/talk.m4a", "targets/walk.mp4": "voices/walk.wav"}
    assert archive.read(f"{folder}/voices/walk.wav")[:4] == b"RIFF"

    again = start(maya, "identity")  # the ZIP uploaded again pairs the same voices
    upload(maya, again, {"dataset.zip": b"".join(maya.get(
        f"/wizard/datasets/{draft.dataset.pk}/download/").streaming_content)})
    assert {name: voice_of(p).name.rsplit("/", 1)[-1] for name, p in pairs(again).items()} == {
        "talk": "talk.m4a", "walk": "walk.wav"}


def test_the_dataset_zip_leaves_out_a_pair_that_cannot_train_with_the_others_voices(maya, clips, voice_files):
    """A pair without a voice, or whose clip has no sound, in a dataset with voices is only listed as left out: its
    row would make the ZIP's manifest one that ltx-trainer and this wizard refuse to train."""
    draft = start(maya, "identity")
    upload(maya, draft, {**voice_files, "lone.mp4": clips("lone.mp4", audio=True), "lone_ref.png": clips.image(
        "lone_ref.png"), "mute.mp4": clips("mute.mp4"), "mute_ref.png": clips.image("mute_ref.png"),
        "mute_voice.wav": voice_files["walk_voice.wav"]})
    response = maya.get(f"/wizard/datasets/{draft.dataset.pk}/download/")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    folder = archive.namelist()[0].split("/")[0]
    rows = [json.loads(line) for line in archive.read(f"{folder}/dataset.jsonl").decode().splitlines()]
    assert sorted(row["media_path"] for row in rows) == ["targets/talk.mp4", "targets/walk.mp4"]
    assert all(row["reference_audio"] for row in rows)


def test_the_identity_recipe_page_says_what_makes_a_good_voice_clip_and_how_to_name_it(maya):
    page = maya.get("/wizard/recipes/identity/").content.decode()
    assert 'id="voice"' in page and "A voice too (optional)" in page
    for words in ("5 to 15 seconds of the same person speaking alone", "No music, no other voices",
                  "close to the microphone", "Natural speech", "agreed to have it copied", "clip_voice.wav",
                  "voices/clip.wav"):
        assert words in page, words
    assert "A voice too" not in maya.get("/wizard/recipes/depth/").content.decode()
