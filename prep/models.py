"""Extractions: a control video (edges, pose, depth, motion tracks) or a caption made from one of a creator's clips."""

from __future__ import annotations

import secrets
from pathlib import PurePosixPath

from django.conf import settings
from django.db import models

from jobs.models import Job


def _upload_to(instance: Extraction, filename: str) -> str:
    name = PurePosixPath(filename).name[-100:]
    return f"users/{instance.owner_id}/prep/{secrets.token_hex(6)}_{name}"


class Extraction(Job):
    """One method run on one source clip with one set of settings; finished ones are reused as a cache."""

    class Method(models.TextChoices):
        CANNY = "canny", "Edge map"
        POSE = "pose", "Pose skeleton"
        DEPTH = "depth", "Depth map"
        CAPTION = "caption", "Caption"
        TRACKS = "tracks", "Motion tracks"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Being made"
        DONE = "done", "Ready"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="extractions")
    method = models.CharField(max_length=10, choices=Method.choices)
    settings = models.JSONField(default=dict, blank=True, help_text="The method's settings, validated.")
    settings_key = models.CharField(max_length=64, help_text="Hash of method, settings and source content.")
    source = models.FileField(upload_to=_upload_to, max_length=500)
    source_name = models.CharField(max_length=255, help_text="The clip's name as the creator knows it.")
    source_sha256 = models.CharField(max_length=64)
    owns_source = models.BooleanField(default=False, help_text="The source was uploaded for this extraction.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    frames_done = models.PositiveIntegerField(default=0)
    frames_total = models.PositiveIntegerField(default=0)
    output = models.FileField(upload_to=_upload_to, max_length=500, blank=True)
    report = models.JSONField(default=dict, blank=True, help_text="ExtractionReport, plus `caption` for captions.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "settings_key"])]

    def __str__(self) -> str:
        return f"{self.get_method_display()} of {self.source_name}"

    FINAL_STATES = (State.DONE, State.FAILED, State.CANCELLED)
    QUEUED, RUNNING, FAILED, CANCELLED = State.QUEUED, State.RUNNING, State.FAILED, State.CANCELLED
    HELD_STATES = (State.RUNNING,)

    @property
    def finished(self) -> bool:
        return self.state in self.FINAL_STATES

    @property
    def percent(self) -> int:
        if self.state == self.State.DONE:
            return 100
        return round(100 * self.frames_done / self.frames_total) if self.frames_total else 0

    @property
    def caption(self) -> str:
        return str(self.report.get("caption", ""))
