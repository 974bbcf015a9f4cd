"""Generations: checked and snapped when asked for, queued on the gpu queue, made by the real worker."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from safetensors.torch import save

from config.files import poster_name
from engine.media import probe
from engine.synthetic import make_clip
from studio.forms import GenerationForm
from studio.generation import GenerationRefused, create_generation, run_generation
from studio.models import Adapter, Generation
from tests.factories import make_ready_dataset, make_run, sent_tasks
from tests.helpers import random_adapter_tensors, sideways_photo, viewed_pixels, wait_for
from training.models import Checkpoint

pytestmark = pytest.mark.timeout(300)


def random_adapter(owner, seed=0, trigger="RESTORE", **extra) -> Adapter:
    tensors = random_adapter_tensors(seed)
    adapter = Adapter(owner=owner, name=extra.pop("name", "Random"), source="uploaded", trigger_phrase=trigger,
                      rank=4, **extra)
    adapter.file.save("random.safetensors", ContentFile(save(tensors, metadata={"trigger": trigger})), save=False)
    adapter.save()
    return adapter


@pytest.fixture
def clip(tmp_path):
    return make_clip(tmp_path / "ref.mp4", seed=3, width=160, height=128, seconds=1.0)  # 24 frames at 24 fps


def trained_adapter(owner, dataset, folder) -> Adapter:
    """Train a tiny IC-LoRA in-process with the engine on the dataset's pairs; store it as a trained Adapter."""
    from django.conf import settings
    from django.core.files import File
    from django.core.management import call_command

    from engine.config import TrainConfig
    from engine.export import read_adapter
    from engine.train import train

    call_command("ensure_tiny_model")
    rows = ["caption,video,reference_video"]
    for pair in dataset.pairs.order_by("position"):
        rows.append(f"{pair.caption},{pair.target_file.path},{pair.reference_file.path}")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")
    cfg = TrainConfig.model_validate({
        "model": str(settings.TINY_MODEL_DIR), "output_dir": str(folder / "train"), "device": "cpu",
        "bucket": {"width": 128, "height": 96, "frames": 9, "fps": 24},
        "data": {"manifest": str(manifest), "max_sequence_length": 32, "trigger": "RESTORE"},
        "lora": {"rank": 4}, "optim": {"steps": 20, "learning_rate": 1e-3}, "checkpoint": {"every": 1000},
        "validation": {"every": 0}, "gradient_checkpointing": False,
    })
    result = train(cfg)
    assert result.adapter_path is not None
    info = read_adapter(result.adapter_path)
    adapter = Adapter(owner=owner, name="Restore e2e", source="trained", rank=info.rank, metadata=info.metadata,
                      trigger_phrase=info.trigger, reference_downscale_factor=info.reference_downscale_factor)
    with result.adapter_path.open("rb") as handle:
        adapter.file.save("restore.safetensors", File(handle), save=False)
    adapter.save()
    return adapter


def upload_of(path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes(), content_type="video/mp4")


def fields(**overrides):
    """The Studio form's fields as the page sends them."""
    data = {"prompt": "RESTORE a clean sunny street", "num_frames": "9", "width": "128", "height": "96",
            "num_inference_steps": "2", "seed": "5", "attention_strength": "1", "adapter_scale": "1",
            "mask_preset": "whole", "frame_rate": "24"}
    data.update(overrides)
    return data


def form(**overrides):
    """The form's checked values for these fields (the form must accept them), as the view hands them on."""
    checked = GenerationForm(fields(**overrides))
    assert checked.is_valid(), checked.errors
    return checked.cleaned_data


def refusals(creator, adapter, reference, **overrides) -> dict[str, str]:
    """What the Studio page says about these fields: the form's messages, else the service's refusals."""
    checked = GenerationForm(fields(**overrides))
    if not checked.is_valid():
        return checked.messages()
    with pytest.raises(GenerationRefused) as refused:
        create_generation(creator, adapter, checked.cleaned_data, reference)
    return refused.value.errors


def test_frames_and_size_are_snapped_with_notes_and_the_generation_is_queued_for_the_gpu(
    creator, clip, django_capture_on_commit_callbacks
):
    adapter = random_adapter(creator)
    with django_capture_on_commit_callbacks() as callbacks:
        generation = create_generation(creator, adapter, form(num_frames="40", width="130", height="100"),
                                       upload_of(clip))
    s = generation.settings
    assert (s["num_frames"], s["width"], s["height"]) == (17, 128, 96)  # 24 frames in the clip: 41 → 17
    assert any("40 → 17" in note and "only 24 frames" in note for note in s["notes"])
    assert any("130 → 128" in note for note in s["notes"]) and any("100 → 96" in note for note in s["notes"])
    assert generation.state == Generation.State.QUEUED and generation.reference_file.size > 0
    assert sent_tasks(callbacks) == [("studio.tasks.generate", (generation.pk,))]
    from django.conf import settings

    assert settings.CELERY_TASK_ROUTES["studio.tasks.generate"] == {"queue": "gpu"}


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"num_frames": "0"}, "num_frames", "at least 1"),
        ({"num_frames": "many"}, "num_frames", "whole number"),
        ({"width": "-64"}, "width", "positive number of pixels"),
        ({"height": "5000"}, "height", "at most 2048"),
        ({"prompt": "  "}, "prompt", "Write a prompt"),
        ({"attention_strength": "1.7"}, "attention_strength", "between 0 and 1"),
        ({"num_inference_steps": "500"}, "num_inference_steps", "between 1 and 100"),
        ({"seed": "-3"}, "seed", "between 0 and"),
        ({"mask_preset": "region", "mask_left": "80", "mask_right": "20"}, "mask_region", "empty"),
        ({"mask_preset": "upload"}, "mask", "Choose a mask image or video"),
    ],
)
def test_impossible_settings_are_refused_with_a_message_and_nothing_is_queued(creator, clip, overrides, field,
                                                                              message):
    adapter = random_adapter(creator)
    assert message in refusals(creator, adapter, upload_of(clip), **overrides)[field]
    assert Generation.objects.count() == 0


def test_a_file_that_is_not_a_video_is_refused_as_a_reference(creator, tmp_path):
    adapter = random_adapter(creator)
    bad = SimpleUploadedFile("ref.mp4", b"definitely not a video", content_type="video/mp4")
    with pytest.raises(GenerationRefused) as refused:
        create_generation(creator, adapter, form(), bad)
    assert "cannot be read" in refused.value.errors["reference"]


def test_the_studio_page_shows_what_is_wrong_and_keeps_what_was_typed(client, creator, clip):
    adapter = random_adapter(creator)
    client.force_login(creator)
    response = client.post(reverse("studio"), {**fields(num_frames="0", prompt="RESTORE my words"),
                                               "adapter_choice": f"adapter-{adapter.pk}",
                                               "reference_upload": upload_of(clip)})
    page = response.content.decode()
    assert response.status_code == 400 and "The number of frames must be at least 1." in page
    assert "RESTORE my words</textarea>" in page and Generation.objects.count() == 0


def test_another_creators_adapters_checkpoints_clips_and_generations_are_not_found(client, creator, other_creator,
                                                                                    clip, tmp_path):
    adapter = random_adapter(creator)
    generation = create_generation(creator, adapter, form(), upload_of(clip))
    run = make_run(creator)
    checkpoint = Checkpoint.objects.create(run=run, step=5, adapter_file=adapter.file.name)
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=1)
    pair = dataset.pairs.get()
    client.force_login(other_creator)
    for url in (
        reverse("studio_generation", args=[generation.pk]),
        reverse("studio_generation_status", args=[generation.pk]),
        reverse("studio_media", args=[generation.pk, "reference"]),
        reverse("studio") + f"?reuse={generation.pk}",
        reverse("studio") + f"?adapter={adapter.pk}",
        reverse("studio") + f"?checkpoint={checkpoint.pk}",
    ):
        assert client.get(url).status_code == 404, url
    for choice in (f"adapter-{adapter.pk}", f"checkpoint-{checkpoint.pk}"):
        response = client.post(reverse("studio"), {**fields(), "adapter_choice": choice,
                                                   "reference_upload": upload_of(clip)})
        assert response.status_code == 404
    mine = random_adapter(other_creator, name="Otto's")
    response = client.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{mine.pk}",
                                               "reference_pair": str(pair.pk)})
    assert response.status_code == 404
    response = client.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{mine.pk}",
                                               "effect_choice": str(adapter.pk), "reference_upload": upload_of(clip)})
    assert response.status_code == 404
    page = client.get(reverse("studio")).content.decode()
    assert adapter.name not in page and pair.name not in page and "Otto&#x27;s" in page
    assert f"/studio/generations/{generation.pk}/" not in client.get(reverse("studio_gallery")).content.decode()
    assert Generation.objects.filter(owner=other_creator).count() == 0


def test_a_generation_runs_once_and_a_second_delivery_leaves_it_alone(creator, clip):
    adapter = random_adapter(creator)
    generation = create_generation(creator, adapter, form(mask_preset="fade_in", mask_fade_frames="4"),
                                   upload_of(clip))
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    assert generation.progress == 1.0 and generation.output_file and generation.reference_preview_file
    assert not generation.baseline_file  # comparison not asked for
    finished, output = generation.finished_at, generation.output_file.name
    run_generation(generation.pk, "elsewhere")
    generation.refresh_from_db()
    assert (generation.finished_at, generation.output_file.name, generation.worker) == (finished, output, "here")


def test_an_adapter_whose_reference_runs_at_half_the_frame_rate_gets_every_second_frame(creator, clip):
    adapter = random_adapter(creator, metadata={"reference_temporal_scale_factor": "2"})
    generation = create_generation(creator, adapter, form(num_frames="20"), upload_of(clip))
    s = generation.settings
    assert (s["num_frames"], s["reference_temporal_scale_factor"]) == (17, 2)
    assert any("20 → 17" in note and "every 2nd frame, so 16n+1 frames" in note for note in s["notes"])
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    assert probe(generation.output_file.path).frames == 17
    preview = probe(generation.reference_preview_file.path)  # the reference as the model was given it
    assert (preview.frames, round(preview.fps)) == (9, 12)


@pytest.mark.training
def test_a_trained_adapter_generates_through_the_real_worker_and_differs_from_the_no_adapter_baseline(
    transactional_db, celery_worker, creator, tmp_path
):
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=3)
    adapter = trained_adapter(creator, dataset, tmp_path)

    pair = dataset.pairs.order_by("position").first()
    assert pair is not None
    generation = create_generation(creator, adapter, form(compare="on", prompt="RESTORE a restored scene"),
                                   pair.reference_file)
    done = wait_for(lambda: Generation.objects.filter(pk=generation.pk, state__in=("succeeded", "failed")).first())
    assert done is not None
    assert done.state == "succeeded", (done.error_message, celery_worker.log_tail())
    assert done.worker == celery_worker.hostname and done.progress == 1.0

    from engine.media import conform

    paths = {}
    for kind in ("output_file", "baseline_file", "reference_preview_file"):
        field = getattr(done, kind)
        paths[kind] = field.path
        info = probe(field.path)
        assert (info.frames, info.width, info.height, info.fps) == (9, 128, 96, 24.0), kind
    output = conform(paths["output_file"], 24, 128, 96, 9).astype(np.float32)
    baseline = conform(paths["baseline_file"], 24, 128, 96, 9).astype(np.float32)
    assert np.abs(output - baseline).mean() > 1.0  # same seed; only the adapter differs


def _session_headers(user) -> list[tuple[bytes, bytes]]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    return [(b"origin", b"http://127.0.0.1"), (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())]


def test_the_owner_watches_a_generation_over_the_websocket_and_others_are_turned_away(
    transactional_db, creator, other_creator, clip, monkeypatch
):
    from asgiref.sync import async_to_sync
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from studio.generation import claim
    from studio.tasks import generate

    # Keep the task away from the broker: a live session worker would otherwise claim it first.
    sent: list[tuple] = []
    monkeypatch.setattr(generate, "apply_async", lambda *args, **kwargs: sent.append(kwargs["args"]))
    generation = create_generation(creator, random_adapter(creator), form(), upload_of(clip))
    assert sent == [(generation.pk,)]

    async def watch(headers) -> list[dict] | None:
        from channels.db import database_sync_to_async

        communicator = WebsocketCommunicator(application, f"/ws/generations/{generation.pk}/", headers=headers)
        connected, _ = await communicator.connect(timeout=10)
        if not connected:
            # Let the refused consumer end by itself: left to the event loop's shutdown, its channel-layer
            # receive could hang the test on a shared Redis.
            await communicator.disconnect()
            return None
        received = [await communicator.receive_json_from(timeout=10)]
        await database_sync_to_async(claim)(generation.pk, "w1")
        received.append(await communicator.receive_json_from(timeout=10))
        await communicator.disconnect()
        return received

    assert async_to_sync(watch)(_session_headers(other_creator)) is None
    messages = async_to_sync(watch)(_session_headers(creator))
    assert messages == [{"id": generation.pk, "state": "queued", "progress": 0.0},
                        {"id": generation.pk, "state": "running", "progress": 0.0}]


def test_a_queued_generation_is_cancelled_at_once_and_the_worker_then_leaves_it_alone(client, creator, clip,
                                                                                      other_creator):
    generation = create_generation(creator, random_adapter(creator), form(), upload_of(clip))
    client.force_login(other_creator)
    assert client.post(reverse("studio_cancel", args=[generation.pk])).status_code == 404
    client.force_login(creator)
    response = client.post(reverse("studio_cancel", args=[generation.pk]))
    assert response.status_code == 302
    generation.refresh_from_db()
    assert generation.state == Generation.State.CANCELLED and generation.finished_at
    run_generation(generation.pk, "late-worker")
    generation.refresh_from_db()
    assert generation.state == Generation.State.CANCELLED and not generation.output_file and not generation.worker
    page = client.get(reverse("studio_generation", args=[generation.pk])).content.decode()
    assert "Cancelled." in page and "every 1s" not in page


def test_a_running_generation_stops_at_its_next_step_when_cancelled(transactional_db, creator, clip, monkeypatch):
    import threading

    from django.db import connection as thread_connection

    from studio.generation import cancel_generation
    from studio.tasks import generate

    # This test is the worker: keep the task away from the broker, where a session worker would claim it first.
    monkeypatch.setattr(generate, "apply_async", lambda *args, **kwargs: None)
    generation = create_generation(creator, random_adapter(creator), form(num_inference_steps="100"),
                                   upload_of(clip))

    def work() -> None:
        try:
            run_generation(generation.pk, "here")
        finally:
            thread_connection.close()

    worker = threading.Thread(target=work)
    worker.start()
    wait_for(lambda: Generation.objects.filter(pk=generation.pk, progress__gt=0).exists(), timeout=120,
             interval=0.05)
    assert cancel_generation(Generation.objects.get(pk=generation.pk))
    worker.join(timeout=120)
    generation.refresh_from_db()
    assert generation.state == Generation.State.CANCELLED, generation.error_message
    assert generation.progress < 0.97 and not generation.output_file
    assert not cancel_generation(generation), "an ended generation cannot be cancelled again"


def test_an_identity_adapter_generates_from_a_still_image_of_the_subject(creator, tmp_path):
    import subprocess

    still = tmp_path / "face.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(still)], check=True)
    adapter = random_adapter(creator, recipe="identity")
    refused = None
    try:
        create_generation(creator, adapter, form(mask_preset="fade_in"), upload_of(still))
    except GenerationRefused as error:
        refused = error.errors
    assert refused is not None and "cannot fade in" in refused["mask_preset"]
    generation = create_generation(creator, adapter, form(num_frames="17"), upload_of(still))
    assert generation.settings["still_reference"] is True and generation.settings["num_frames"] == 17
    assert not any("only" in note and "frames" in note for note in generation.settings["notes"])
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    assert probe(generation.output_file.path).frames == 17
    assert probe(generation.reference_preview_file.path).frames == 17  # the still, shown for the whole clip


def test_a_still_image_given_to_a_video_adapter_comes_with_a_note(creator, tmp_path):
    import subprocess

    still = tmp_path / "frame.jpg"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(still)], check=True)
    generation = create_generation(creator, random_adapter(creator, recipe="depth"), form(), upload_of(still))
    assert any("a still image may steer it only weakly" in note for note in generation.settings["notes"])


def test_with_int8_weights_the_adapter_still_steers_the_generation(creator, clip, settings):
    from studio import generation as generation_module

    settings.STUDIO_QUANTIZE = "int8"
    generation_module._PIPELINES.clear()
    try:
        generation = create_generation(creator, random_adapter(creator), form(compare="on"), upload_of(clip))
        run_generation(generation.pk, "small-gpu")
        pipe = next(iter(generation_module._PIPELINES.values()))
        quantized = [m for m in pipe.transformer.modules() if type(m).__name__ == "QLinear"]
        text_quantized = [m for m in pipe.text_encoder.modules() if type(m).__name__ == "QLinear"]
    finally:
        generation_module._PIPELINES.clear()
    generation.refresh_from_db()
    assert generation.state == Generation.State.SUCCEEDED, generation.error_message
    assert quantized, "the transformer's linear layers hold int8 weights"
    assert text_quantized, "so do the text encoder's"
    output = probe(generation.output_file.path)
    assert (output.frames, output.width, output.height) == (9, 128, 96)
    assert generation.output_file.read() != generation.baseline_file.read()


def test_an_adapter_trained_with_several_shapes_starts_the_studio_at_its_first_shape(creator):
    from studio.generation import defaults_for

    adapter = random_adapter(creator, metadata={"bucket": "768x448x81@24,448x768x81@24"})
    defaults = defaults_for(adapter)
    assert (defaults.width, defaults.height, defaults.num_frames, defaults.frame_rate) == (768, 448, 81, 24.0)


def test_with_size_following_the_reference_a_portrait_clip_makes_a_portrait_video(creator, tmp_path):
    portrait = make_clip(tmp_path / "phone.mp4", seed=4, width=96, height=160, seconds=1.0)
    adapter = random_adapter(creator)
    generation = create_generation(creator, adapter, form(fit_reference="on"), upload_of(portrait))
    s = generation.settings
    assert (s["width"], s["height"]) == (96, 128) and s["fit_reference"] is True
    assert any("128×96 → 96×128" in note and "portrait reference (96×160)" in note for note in s["notes"])

    trained = random_adapter(creator, metadata={"bucket": "128x96x9@24,96x128x9@24"}, name="Two shapes")
    s = create_generation(creator, trained, form(fit_reference="on"), upload_of(portrait)).settings
    assert (s["width"], s["height"]) == (96, 128)  # the adapter's own portrait shape

    s = create_generation(creator, adapter, form(), upload_of(portrait)).settings  # unticked: exactly as asked
    assert (s["width"], s["height"]) == (128, 96) and not any("→ 96×128" in note for note in s["notes"])


def test_a_phone_photo_given_sideways_as_a_still_reference_is_used_upright(creator):
    adapter = random_adapter(creator, recipe="identity")
    photo = SimpleUploadedFile("selfie.jpg", sideways_photo(), content_type="image/jpeg")
    generation = create_generation(creator, adapter, form(fit_reference="on"), photo)
    s = generation.settings
    assert (s["width"], s["height"]) == (96, 128)  # portrait, as the photo is seen
    with generation.reference_file.open("rb") as handle:
        assert viewed_pixels(handle.read()).shape == (320, 192, 3)


def test_an_iphone_heic_photo_is_accepted_as_a_still_reference(creator):
    adapter = random_adapter(creator, recipe="identity")
    photo = SimpleUploadedFile("selfie.HEIC", sideways_photo("HEIF"), content_type="image/heic")
    generation = create_generation(creator, adapter, form(fit_reference="on"), photo)
    assert generation.reference_file.name.endswith(".jpg") and generation.settings["still_reference"]
    assert (generation.settings["width"], generation.settings["height"]) == (96, 128)


def test_deleting_a_generation_removes_its_videos_but_keeps_a_reference_another_one_reuses(
    client, creator, clip, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    first = create_generation(creator, random_adapter(creator), form(), upload_of(clip))
    for field in (first.output_file, first.baseline_file):
        field.save("video.mp4", ContentFile(b"mp4"), save=False)
    first.state = Generation.State.SUCCEEDED
    first.save()
    reused = Generation.objects.create(owner=creator, prompt="again", state=Generation.State.SUCCEEDED,
                                       reference_file=first.reference_file.name)  # "Reuse these settings"
    reference, videos = first.reference_file.name, [first.output_file.name, first.baseline_file.name]
    client.force_login(creator)
    assert "Delete generation" in client.get(reverse("studio_generation", args=[first.pk])).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("studio_delete", args=[first.pk]), follow=True)
    assert "The generation was deleted." in response.content.decode()
    assert not any(default_storage.exists(name) for name in videos) and default_storage.exists(reference)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("studio_delete", args=[reused.pk]))
    assert not Generation.objects.exists() and not default_storage.exists(reference)


def test_a_generation_being_made_is_not_deleted_and_another_creator_cannot_delete_one(
    client, creator, other_creator, clip
):
    generation = create_generation(creator, random_adapter(creator), form(), upload_of(clip))
    client.force_login(other_creator)
    assert client.post(reverse("studio_delete", args=[generation.pk])).status_code == 404
    client.force_login(creator)
    assert "Delete generation" not in client.get(reverse("studio_generation", args=[generation.pk])).content.decode()
    response = client.post(reverse("studio_delete", args=[generation.pk]), follow=True)
    assert "still being made: cancel it first" in response.content.decode()
    assert Generation.objects.filter(pk=generation.pk).exists()


def test_every_video_of_a_generation_has_a_poster_its_owner_sees_and_nobody_else(client, creator, other_creator,
                                                                                 clip):
    generation = create_generation(creator, random_adapter(creator), form(compare="on"), upload_of(clip))
    run_generation(generation.pk, "here")
    generation.refresh_from_db()
    for video in (generation.output_file, generation.baseline_file, generation.reference_preview_file):
        assert default_storage.exists(poster_name(video.name)), video.name  # made by the worker with the videos
    client.force_login(creator)
    posters = []
    for url, count in ((reverse("studio_generation", args=[generation.pk]), 3), (reverse("studio_gallery"), 1)):
        videos = re.findall(r"<video [^>]*>", client.get(url).content.decode())
        assert len(videos) == count and all('poster="' in video for video in videos), videos
        posters += [re.search(r'poster="([^"]+)"', video).group(1) for video in videos]  # type: ignore[union-attr]
    assert set(posters) == {f"/studio/generations/{generation.pk}/{kind}.jpg"
                            for kind in ("reference", "output", "baseline")}
    for url in posters:
        response = client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg", url
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
    client.force_login(other_creator)
    for url in set(posters):
        assert client.get(url).status_code == 404, url


# --- The frame rate a blank field becomes, and the form's words for it


def test_a_blank_frame_rate_is_the_rate_the_adapter_was_trained_at(creator, clip):
    adapter = random_adapter(creator, metadata={"bucket": "128x96x9@12"})
    s = create_generation(creator, adapter, form(frame_rate=""), upload_of(clip)).settings
    assert s["frame_rate"] == 12.0 and not any(note.startswith("Frame rate") for note in s["notes"])


def test_an_adapter_that_does_not_say_its_rate_makes_the_video_at_the_references_own_rate_and_says_so(
    creator, tmp_path
):
    thirty = make_clip(tmp_path / "thirty.mp4", seed=3, width=160, height=128, fps=30.0, seconds=1.0)
    adapter = random_adapter(creator, name="Old LoRA")  # uploaded without a bucket in its metadata
    s = create_generation(creator, adapter, form(frame_rate=""), upload_of(thirty)).settings
    assert s["frame_rate"] == 30.0
    assert "Frame rate: 30 fps, your reference video's own (“Old LoRA” does not say what rate it was trained at)." \
        in s["notes"]


def test_a_still_reference_with_no_rate_to_go_by_gets_the_models_usual_rate(creator, tmp_path):
    import subprocess

    still = tmp_path / "face.png"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=160x128", "-frames:v", "1",
                    str(still)], check=True)
    adapter = random_adapter(creator, name="Faces", recipe="identity")
    s = create_generation(creator, adapter, form(frame_rate="", num_frames="9"), upload_of(still)).settings
    assert s["frame_rate"] == 24.0
    assert "Frame rate: 24 fps, the model's usual rate (“Faces” does not say what rate it was trained at)." \
        in s["notes"]


def test_a_reference_too_fast_to_follow_gets_the_models_usual_rate(creator, tmp_path):
    slow_motion = make_clip(tmp_path / "slowmo.mp4", seed=3, width=160, height=128, fps=120.0, seconds=0.5)
    s = create_generation(creator, random_adapter(creator), form(frame_rate=""), upload_of(slow_motion)).settings
    assert s["frame_rate"] == 24.0 and any(note.startswith("Frame rate: 24 fps, the model's") for note in s["notes"])


def _frame_rate_field(page: str) -> tuple[str, str]:
    """(the frame rate field's value, the help under it) as the Studio page shows them."""
    value = re.search(r'<input id="frame_rate" [^>]*value="([^"]*)"', page)
    help_text = re.search(r'<p class="help" id="frame-rate-help">([^<]*)</p>', page)
    assert value and help_text, "the frame rate field and its help"
    return value.group(1), help_text.group(1)


def test_the_studio_form_starts_from_the_default_frame_rate_and_says_which_it_is(client, creator, tmp_path):
    client.force_login(creator)
    blank = ("Frame rate left blank: the rate of your reference video (24 fps, the model&#x27;s usual rate, for a "
             "still image).")
    assert _frame_rate_field(client.get(reverse("studio")).content.decode()) == ("", blank)  # no adapter chosen

    trained = random_adapter(creator, name="Depth v2", metadata={"bucket": "128x96x9@12"})
    page = client.get(reverse("studio") + f"?adapter={trained.pk}").content.decode()
    assert _frame_rate_field(page) == ("12", "Frame rate 12 fps: the rate “Depth v2” was trained at.")

    unknown = random_adapter(creator, name="Old LoRA")
    page = client.get(reverse("studio") + f"?adapter={unknown.pk}").content.decode()
    assert _frame_rate_field(page) == ("", blank)

    dataset = make_ready_dataset(creator, tmp_path / "clips", count=1)
    pair = dataset.pairs.get()
    pair.reference_meta = {**pair.reference_meta, "fps": 30.0, "frames": 30}
    pair.save()
    sent = {**fields(frame_rate="", prompt=""), "adapter_choice": f"adapter-{unknown.pk}", "reference_pair": pair.pk}
    page = client.post(reverse("studio"), sent).content.decode()  # refused (no prompt): the form is shown again
    said = f"Frame rate 30 fps: the rate of your reference “{dataset.name} · {pair.name}”."
    assert _frame_rate_field(page) == ("", said)
    # Each choice carries its rate and words, so the page script follows the choice the creator makes.
    assert f'value="adapter-{trained.pk}" data-trigger="RESTORE" data-fps="12" data-fps-help="Frame rate 12 fps' in page
    assert f'value="adapter-{unknown.pk}" data-trigger="RESTORE" selected data-fps="" data-fps-help=""' in page
    assert f'value="{pair.pk}" data-fps="30" data-fps-help="Frame rate 30 fps: the rate of your reference' in page
