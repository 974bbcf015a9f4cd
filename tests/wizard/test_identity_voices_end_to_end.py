"""Identity with reference voices end to end: a creator uploads clips with their own sound, a still and a voice
clip for each, goes through every wizard step, and the real Celery worker trains the tiny model on the clips' sound
with the voices (the manifest's reference_audio column) to an adapter that says it expects a voice."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client
from safetensors import safe_open

from datasets.models import ClipPair
from studio.models import Adapter
from tests.clips import make_clip, make_image
from tests.datasets.voices import tone
from tests.helpers import wait_for
from tests.wizard.flow import pairs, settings_post, start, upload
from training.models import TrainingRun, ValidationSample

pytestmark = pytest.mark.timeout(300)


def test_an_identity_adapter_learns_the_voice_from_clips_stills_and_voice_clips(
    transactional_db, celery_worker, creator, tmp_path: Path
):
    maya = Client()
    maya.force_login(creator)
    files: dict[str, bytes | Path] = {}
    for name, source, hz in (("front", "testsrc2", 220), ("profile", "mandelbrot", 330)):
        files[f"{name}.mp4"] = make_clip(tmp_path / f"{name}.mp4", source=source, frames=24, audio=True)
        files[f"{name}_ref.png"] = make_image(tmp_path / f"{name}_ref.png", source=source)
        files[f"voices/{name}.wav"] = tone(tmp_path / f"{name}.wav", 6, hz=hz)
    draft = start(maya, "identity")
    assert upload(maya, draft, files).status_code == 302
    for pair in pairs(draft).values():
        assert pair.status == ClipPair.Status.OK, pair.messages
        assert pair.voice_file.name
        maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/caption/", {"caption": f"{pair.name} speaking to the camera"})

    front = pairs(draft)["front"]
    saved = maya.post(f"/wizard/{draft.pk}/settings/", settings_post(
        draft, width=128, height=96, frames=17, rank=8, steps=10, checkpoint_every=10, validation_every=0,
        trigger_phrase="", validation_pairs=[front.pk], validation_prompts="front speaking to the camera"))
    assert saved.status_code == 302
    launched = maya.post(f"/wizard/{draft.pk}/launch/")
    assert launched.status_code == 302
    run = TrainingRun.objects.get(owner=creator)
    assert run.config["data"]["reference_audio"] is True and run.config["diffusion"]["audio"] == "clip"
    wait_for(lambda: TrainingRun.objects.filter(pk=run.pk, state__in=TrainingRun.FINAL_STATES).exists(),
             timeout=240, interval=0.5)
    run.refresh_from_db()
    assert run.state == TrainingRun.State.SUCCEEDED, (run.error_message, celery_worker.log_tail())

    assert ValidationSample.objects.filter(run=run).count() == 1  # the sample made at the end, from the still

    adapter = Adapter.objects.get(run=run)
    local = tmp_path / "voice.safetensors"
    local.write_bytes(adapter.file.read())
    with safe_open(str(local), "pt") as exported:
        assert exported.metadata()["reference_audio"] == "true"
