"""Adapters (trained here or uploaded) and the generations a creator makes with them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


def _adapter_upload_to(instance: Adapter, filename: str) -> str:
    return f"users/{instance.owner_id}/adapters/{filename}"


def _generation_upload_to(instance: Generation, filename: str) -> str:
    return f"users/{instance.owner_id}/generations/{instance.pk or 'new'}/{filename}"


class Adapter(models.Model):
    class Source(models.TextChoices):
        TRAINED = "trained", "Trained here"
        UPLOADED = "uploaded", "Uploaded"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="adapters")
    name = models.CharField(max_length=200)
    source = models.CharField(max_length=10, choices=Source.choices)
    file = models.FileField(upload_to=_adapter_upload_to, max_length=500)
    checkpoint = models.OneToOneField(
        "training.Checkpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="adapter"
    )
    run = models.ForeignKey(
        "training.TrainingRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="adapters"
    )
    base_model = models.CharField(max_length=100, blank=True)
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


class Generation(models.Model):
    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a GPU"
        RUNNING = "running", "Generating"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="generations")
    adapter = models.ForeignKey(Adapter, on_delete=models.SET_NULL, null=True, blank=True, related_name="generations")
    reference_file = models.FileField(upload_to=_generation_upload_to, max_length=500)
    mask_file = models.FileField(upload_to=_generation_upload_to, max_length=500, blank=True)
    prompt = models.TextField()
    negative_prompt = models.TextField(blank=True)
    settings = models.JSONField(
        default=dict, help_text="Seed, frames, size, steps, scales, attention strength, mask preset."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    output_file = models.FileField(upload_to=_generation_upload_to, max_length=500, blank=True)
    baseline_file = models.FileField(
        upload_to=_generation_upload_to, max_length=500, blank=True, help_text="Same seed, without the adapter."
    )
    error_message = models.TextField(blank=True)
    worker = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Generation {self.pk}: {self.prompt[:40]}"

    def summary(self) -> dict[str, Any]:
        return {"prompt": self.prompt, **self.settings}
