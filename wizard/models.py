"""The creator's way through the wizard: a training being set up, step by step."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from datasets.models import Dataset


class TrainingDraft(models.Model):
    """A training being set up in the wizard: which dataset, which settings, where the creator left off."""

    class Step(models.TextChoices):
        RECIPE = "recipe", "Recipe"
        DATASET = "dataset", "Clips"
        CONFIG = "config", "Settings"
        LAUNCH = "launch", "Launch"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="training_drafts")
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="drafts")
    name = models.CharField(max_length=200)
    step = models.CharField(max_length=10, choices=Step.choices, default=Step.DATASET)
    preset = models.CharField(max_length=20, default="balanced")
    settings = models.JSONField(default=dict, blank=True, help_text="Settings form values (see wizard.settings).")
    run = models.OneToOneField(
        "training.TrainingRun", on_delete=models.CASCADE, null=True, blank=True, related_name="wizard_draft",
        help_text="The run launched from these settings; deleting the run deletes them (the dataset stays).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def launched(self) -> bool:
        return self.run_id is not None
