"""A voice in the Studio (issue 19): an adapter trained with a reference voice asks for 5-15 s of the person speaking,
checked before any GPU time, and its video comes back with sound, beside the same seed without the adapter."""

from __future__ import annotations

import subprocess

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.datastructures import MultiValueDict
from safetensors.torch import save

from engine.media import probe, probe_audio
from studio.forms import GenerationForm
from studio.generation import GenerationRefused, create_generation, run_generation
from studio.models import Adapter, Generation
from tests.helpers import random_adapter_tensors
from tests.studio.test_generation import fields, random_adapter, upload_of
from tests.training.test_audio import tone

pytestmark = pytest.mark.timeout(300)

VOICE_METADATA = {"trigger": "MAYA", "reference_audio": "true", "reference_audio_placement": "before",
                  "bucket": "128x96x17@24"}


def voice_adapter(owner, name="Maya speaks") -> Adapter:
    """A tiny identity adapter whose file and metadata say it was trained with a reference voice (engine.export)."""
    adapter = Adapter(owner=owner, name=name, source="uploaded", trigger_phrase="MAYA", rank=4, recipe="identity",
                      metadata=VOICE_METADATA)
    file = save(random_adapter_tensors(1), metadata=VOICE_METADATA)
    adapter.file.save("maya.safetensors", ContentFile(file), save=False)
    adapter.save()
    return adapter


@pytest.fixture
def still(tmp_path):
    path = tmp_path / "maya.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(path)], check=True)
    return path


def voice_of(tmp_path, seconds=7.0, name="voice.wav", volume=1.0) -> SimpleUploadedFile:
    path = tone(tmp_path / name, 440, seconds, volume=volume)
    return SimpleUploadedFile(name, path.read_bytes(), content_type="audio/wav")


def voiced_form(voice_upload=None, **overrides):
    """The form's checked values, as the view hands them on, with the voice recording it was sent."""
    files = MultiValueDict({"voice_upload": [voice_upload]} if voice_upload is not None else {})
    checked = GenerationForm({**fields(prompt="MAYA says hello in a sunny kitchen", num_frames="17"), **overrides},
                             files)
    assert checked.is_valid(), checked.errors
    return checked.cleaned_data


def refused(creator, adapter, still, voice_upload=None) -> dict[str, str]:
    with pytest.raises(GenerationRefused) as refusal:
        create_generation(creator, adapter, voiced_form(voice_upload), upload_of(still))
    return refusal.value.errors


def stored_files() -> list[str]:
    """Every generation's stored file (a refused one must leave none behind)."""
    folders, _files = default_storage.listdir("users") if default_storage.exists("users") else ([], [])
    found = []
    for user in folders:
        generations = f"users/{user}/generations"
        if default_storage.exists(generations):
            for folder in default_storage.listdir(generations)[0]:
                found += default_storage.listdir(f"{generations}/{folder}")[1]
    return found


def test_an_adapter_trained_with_a_voice_needs_a_voice_recording_and_nothing_is_saved_without_one(
    creator, still, django_capture_on_commit_callbacks
):
    adapter = voice_adapter(creator)
    before = stored_files()
    with django_capture_on_commit_callbacks() as callbacks:
        errors = refused(creator, adapter, still)
    assert "“Maya speaks” was trained with a voice" in errors["voice"] and "5–15 s" in errors["voice"]
    assert Generation.objects.count() == 0 and not callbacks and stored_files() == before


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: voice_of(tmp, seconds=2), "lasts 2.0 s: at least 5 s of the person speaking alone are needed"),
        (lambda tmp: voice_of(tmp, volume=0), "is silent"),
        (lambda tmp: SimpleUploadedFile("voice.wav", b"Dear Maya, this is a letter, not a recording.\n" * 40),
         "cannot be read"),
        (lambda tmp: SimpleUploadedFile("voice.txt", b"hello"), "must be a sound file (wav, mp3, m4a, ogg or webm)"),
    ],
    ids=["two-seconds", "silent", "text-named-wav", "text-file"],
)
def test_a_voice_recording_that_cannot_be_used_is_refused_in_plain_words_before_any_gpu_time(
    creator, still, tmp_path, make, message, django_capture_on_commit_callbacks
):
    adapter = voice_adapter(creator)
    before = stored_files()
    with django_capture_on_commit_callbacks() as callbacks:
        errors = refused(creator, adapter, still, make(tmp_path))
    assert message in errors["voice"] and list(errors) == ["voice"]
    assert Generation.objects.count() == 0 and not callbacks and stored_files() == before


def test_a_long_voice_recording_is_taken_with_a_note_that_only_its_first_15_seconds_are_used(creator, still,
                                                                                            tmp_path):
    generation = create_generation(creator, voice_adapter(creator), voiced_form(voice_of(tmp_path, seconds=22)),
                                   upload_of(still))
    assert generation.settings["voice"] == {"name": "voice.wav", "seconds": 22.0, "used_seconds": 15.0}
    assert "Voice: your recording lasts 22 s; only its first 15 s are used" in " ".join(generation.settings["notes"])
    stored = generation.voice_file
    assert stored.name.endswith(".wav") and stored.size == (tmp_path / "voice.wav").stat().st_size
    assert generation.settings["reference_audio_placement"] == "before"


def test_a_voice_given_to_an_adapter_trained_without_one_is_set_aside_with_a_note(creator, still, tmp_path):
    adapter = random_adapter(creator, name="Depth", recipe="depth")
    generation = create_generation(creator, adapter, voiced_form(voice_of(tmp_path)), upload_of(still))
    assert not generation.voice_file and "voice" not in generation.settings and generation.voice is None
    assert any("“Depth” was not trained with a voice, so your voice recording was not used" in note
               for note in generation.settings["notes"])


def test_the_studio_page_asks_for_a_voice_only_while_an_adapter_trained_with_one_is_chosen(client, creator, still):
    speaking = voice_adapter(creator)
    silent = random_adapter(creator, name="Depth")
    client.force_login(creator)
    page = client.get(reverse("studio") + f"?adapter={speaking.pk}").content.decode()
    assert 'id="voice-field" data-needed="yes" >' in page and "5–15 s of the person speaking alone" in page
    assert 'data-voice="yes"' in page and 'data-voice="no"' in page
    page = client.get(reverse("studio") + f"?adapter={silent.pk}").content.decode()
    assert 'data-needed="no" hidden>' in page  # there for voice-recorder.js, hidden until such an adapter is chosen
    speaking.delete()
    assert "voice_upload" not in client.get(reverse("studio")).content.decode()  # no adapter of the kind: no field

    speaking = voice_adapter(creator)
    response = client.post(reverse("studio"), {**fields(prompt="MAYA speaks"),
                                               "adapter_choice": f"adapter-{speaking.pk}",
                                               "reference_upload": upload_of(still)})
    page = response.content.decode()
    assert response.status_code == 400 and Generation.objects.count() == 0
    field = page[page.index('id="voice-field"'):]
    assert '<p class="error">“Maya speaks” was trained with a voice' in field[:field.index("</section>")]


def test_another_creators_voice_generation_and_its_videos_are_not_found(client, creator, other_creator, still,
                                                                          tmp_path):
    generation = create_generation(creator, voice_adapter(creator), voiced_form(voice_of(tmp_path)),
                                   upload_of(still))
    client.force_login(other_creator)
    for url in (reverse("studio_generation", args=[generation.pk]),
                reverse("studio_generation_status", args=[generation.pk]),
                reverse("studio_media", args=[generation.pk, "output"]),
                reverse("studio") + f"?reuse={generation.pk}"):
        assert client.get(url).status_code == 404, url
    client.force_login(creator)
    assert client.get(reverse("studio_generation", args=[generation.pk])).status_code == 200


def test_a_voice_adapter_speaks_with_sound_through_the_worker_beside_the_same_seed_without_it(client, creator, still,
                                                                                             tmp_path):
    """The real worker path on the tiny model: the output and the baseline are mp4s with a sound track as long as the
    clip, the page plays both with their sound and says which one used the voice."""
    generation = create_generation(creator, voice_adapter(creator), voiced_form(voice_of(tmp_path), compare="on"),
                                   upload_of(still))
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    clip_seconds = 17 / 24
    for field in (generation.output_file, generation.baseline_file):
        video = probe(field.path)
        sound = probe_audio(field.path)  # raises when the mp4 has no sound
        assert video.frames == 17 and sound.channels == 2
        assert abs(sound.duration - clip_seconds) < 0.1, (field.name, sound.duration)
    assert generation.summary()["voice"]["name"] == "voice.wav"

    client.force_login(creator)
    page = client.get(reverse("studio_generation", args=[generation.pk])).content.decode()
    assert "Both videos play with sound" in page and "speaks in the voice of your recording “voice.wav”" in page
    videos = [tag[:tag.index(">")] for tag in page.split("<video")[1:]]
    assert [("controls" in tag, "muted" in tag) for tag in videos] == [(False, True), (True, False), (True, False)]


def test_a_generation_without_a_voice_is_unchanged(client, creator, still):
    generation = create_generation(creator, random_adapter(creator, recipe="identity"), voiced_form(compare="on"),
                                   upload_of(still))
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    for field in (generation.output_file, generation.baseline_file):
        with pytest.raises(Exception, match="has no sound"):
            probe_audio(field.path)
    client.force_login(creator)
    page = client.get(reverse("studio_generation", args=[generation.pk])).content.decode()
    assert "Both videos play with sound" not in page
    videos = [tag[:tag.index(">")] for tag in page.split("<video")[1:]]
    assert len(videos) == 3 and all("muted" in tag and "controls" not in tag for tag in videos)


def test_reusing_a_voice_generations_settings_keeps_its_voice_and_another_creator_cannot_take_it(
    client, creator, other_creator, still, tmp_path
):
    adapter = voice_adapter(creator)
    first = create_generation(creator, adapter, voiced_form(voice_of(tmp_path, name="maya.wav")), upload_of(still))
    client.force_login(creator)
    page = client.get(reverse("studio") + f"?reuse={first.pk}").content.decode()
    assert f'name="reuse_voice" value="{first.pk}" checked> Use the same voice as before (maya.wav)' in page
    response = client.post(reverse("studio"), {**fields(prompt="MAYA waves"), "adapter_choice": f"adapter-{adapter.pk}",
                                               "reuse_reference": str(first.pk), "reuse_voice": str(first.pk)})
    assert response.status_code == 302, response.content.decode()[:2000]
    again = Generation.objects.exclude(pk=first.pk).get()
    assert again.voice_file.name == first.voice_file.name and again.voice == first.voice  # the same stored file

    theirs = voice_adapter(other_creator, name="Otto speaks")
    client.force_login(other_creator)
    response = client.post(reverse("studio"), {**fields(prompt="MAYA waves"), "adapter_choice": f"adapter-{theirs.pk}",
                                               "reference_upload": upload_of(still), "reuse_voice": str(first.pk)})
    assert response.status_code == 404 and Generation.objects.filter(owner=other_creator).count() == 0


@pytest.mark.parametrize("name", ["voice.webm", "voice.m4a", "voice.ogg", "voice.mp3"])
def test_the_page_takes_a_voice_file_as_a_plain_upload_without_scripts(client, creator, still, tmp_path, name):
    """The form alone (no recorder): a browser's webm/opus recording and the usual sound files are taken."""
    adapter = voice_adapter(creator)
    client.force_login(creator)
    sent = {**fields(prompt="MAYA speaks"), "adapter_choice": f"adapter-{adapter.pk}",
            "reference_upload": upload_of(still), "voice_upload": voice_of(tmp_path, seconds=6, name=name)}
    response = client.post(reverse("studio"), sent)
    assert response.status_code == 302, response.content.decode()[:3000]
    generation = Generation.objects.get()
    assert generation.voice == {"name": name, "seconds": pytest.approx(6, abs=0.1),
                                "used_seconds": pytest.approx(6, abs=0.1)}
    assert generation.voice_file.name.endswith(name[name.index("."):])


def test_without_a_comparison_the_one_video_plays_with_the_voice(client, creator, still, tmp_path):
    generation = create_generation(creator, voice_adapter(creator), voiced_form(voice_of(tmp_path)), upload_of(still))
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    assert not generation.baseline_file and abs(probe_audio(generation.output_file.path).duration - 17 / 24) < 0.1
    assert generation.progress == 1.0
    client.force_login(creator)
    page = client.get(reverse("studio_generation", args=[generation.pk])).content.decode()
    assert "The video plays with sound: press play. It speaks in the voice of your recording “voice.wav”." in page
    assert "Both videos" not in page
