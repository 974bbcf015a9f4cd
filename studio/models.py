"""Adapters (trained here or uploaded) and the generations a creator makes with them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from engine.bases import LTX_2_3
from jobs.models import Job
from training.models import BASE_CHOICES


def _adapter_upload_to(instance: Adapter, filename: str) -> str:
    return f"users/{instance.owner_id}/adapters/{filename}"


def _generation_upload_to(instance: Generation, filename: str) -> str:
    return f"users/{instance.owner_id}/generations/{instance.pk or 'new'}/{filename}"


class Adapter(models.Model):
    class Source(models.TextChoices):
        TRAINED = "trained", "Trained here"
        UPLOADED = "uploaded", "Uploaded"

    class Kind(models.TextChoices):
        ICLORA = "iclora", "IC-LoRA (follows a reference video)"
        EFFECT = "effect", "Style / effect LoRA"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="adapters")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ICLORA)
    file = models.FileField(upload_to=_adapter_upload_to, max_length=500)
    checkpoint = models.OneToOneField(
        "training.Checkpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="adapter"
    )
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="adapters"
    )
    base_model = models.CharField(max_length=100, blank=True, help_text="The model name the file records.")
    base = models.CharField(
        max_length=20, choices=BASE_CHOICES, default=LTX_2_3,
        help_text="The base model it was trained on (engine.bases): the Studio tries it on this one only. From the "
        "file's metadata; a file that does not say is taken as made for the Studio's default base.",
    )
    rank = models.PositiveIntegerField(null=True, blank=True)
    reference_downscale_factor = models.PositiveSmallIntegerField(default=1)
    trigger_phrase = models.CharField(max_length=100, blank=True)
    recipe = models.CharField(max_length=40, blank=True)
    metadata = models.JSONField(default=dict, blank=True, help_text="The file's safetensors metadata.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Generation(Job):
    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a GPU"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    adapter = models.ForeignKey(Adapter, on_delete=models.SET_NULL, null=True, blank=True, related_name="generations")
    effect_adapter = models.ForeignKey(
        Adapter, on_delete=models.SET_NULL, null=True, blank=True, related_name="effect_generations",
        help_text="An optional ordinary LoRA stacked beside the IC-LoRA.",
    )
    reference_file = models.FileField(upload_to=_generation_upload_to, max_length=500)
    reference_preview_file = models.FileField(
        upload_to=_generation_upload_to, max_length=500, blank=True,
        help_text="The reference as the model saw it (same frames, rate and size as the output), for playback.",
    )
    mask_file = models.FileField(upload_to=_generation_upload_to, max_length=500, blank=True)
    voice_file = models.FileField(
        upload_to=_generation_upload_to, max_length=500, blank=True,
        help_text="The person's voice (5-15 s of them speaking) for an adapter trained with a reference voice.",
    )
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    settings = models.JSONField(
        default=dict, help_text="Seed, frames, size, steps, scales, attention strength, mask preset."
    )
    drawn_tracks = models.JSONField(
        null=True, blank=True, help_text="The motion tracks drawn on the Studio's canvas that made the reference "
        "(prep.extract.drawn_tracks.DrawnTracks), so reusing the settings puts them back on it.",
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    output_file = models.FileField(upload_to=_generation_upload_to, max_length=500, blank=True)
    baseline_file = models.FileField(
        upload_to=_generation_upload_to, max_length=500, blank=True, help_text="Same seed, without the adapter."
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Generation {self.pk}: {self.prompt[:40]}"

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)
    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    QUEUED, RUNNING, FAILED, CANCELLED = State.QUEUED, State.RUNNING, State.FAILED, State.CANCELLED
    HELD_STATES = (State.RUNNING,)

    @property
    def progress_percent(self) -> int:
        return int(100 * max(0.0, min(1.0, self.progress)))

    def summary(self) -> dict[str, Any]:
        return {"prompt": self.prompt, **self.settings}

    @property
    def voice(self) -> dict[str, Any] | None:
        """The voice it was made with ({name, seconds, used_seconds}), or None when it used none."""
        voice = self.settings.get("voice") if isinstance(self.settings, dict) else None
        return voice if isinstance(voice, dict) else None
