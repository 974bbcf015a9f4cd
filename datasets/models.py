"""Datasets of clip pairs: what a creator uploads before training, and the jobs that check them."""

from __future__ import annotations

import secrets
import uuid
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.db import models

from jobs.models import Job


def _clip_upload_to(instance: ClipPair, filename: str) -> str:
    name = PurePosixPath(filename).name
    return f"users/{instance.dataset.owner_id}/datasets/{instance.dataset_id}/{name}"


def _dataset_file_upload_to(instance: DatasetFile, filename: str) -> str:
    # A random prefix: two uploads called clip.mp4 (targets/ and references/) never meet on disk.
    name = PurePosixPath(filename).name[-120:]
    return f"users/{instance.dataset.owner_id}/datasets/{instance.dataset_id}/files/{secrets.token_hex(6)}_{name}"


class Dataset(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    recipe = models.CharField(max_length=40, help_text="Recipe slug, e.g. depth, canny, restoration.")
    trigger_phrase = models.CharField(max_length=100, blank=True)
    derive_settings = models.JSONField(
        default=dict, blank=True, help_text="Settings per extraction method for references made on the server."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return self.name


class ClipPair(models.Model):
    """A reference video, a target video and a caption (and, for Identity, maybe a reference voice), with what
    validation found."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be checked"
        CHECKING = "checking", "Being checked"
        OK = "ok", "Ready"
        WARNING = "warning", "Ready, with notes"
        ERROR = "error", "Needs attention"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="pairs")
    name = models.CharField(max_length=255, help_text="The clip's base name, used for pairing.")
    position = models.PositiveIntegerField(default=0)
    target_file = models.FileField(upload_to=_clip_upload_to, max_length=500, blank=True)
    reference_file = models.FileField(upload_to=_clip_upload_to, max_length=500, blank=True)
    reference_is_derived = models.BooleanField(
        default=False, help_text="The reference was made on the server (depth, edges, pose)."
    )
    derive_method = models.CharField(max_length=10, blank=True, help_text="Extraction method of a derived reference.")
    extraction = models.ForeignKey(
        "prep.Extraction", on_delete=models.SET_NULL, null=True, blank=True, related_name="reference_pairs",
        help_text="The extraction that makes (or made) the derived reference.",
    )
    target_source = models.ForeignKey(
        "DatasetFile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reference_source = models.ForeignKey(
        "DatasetFile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    voice_file = models.FileField(
        upload_to=_clip_upload_to, max_length=500, blank=True,
        help_text="A reference voice (Identity): 5–15 s of the person speaking, a sound file or a video's sound.")
    voice_source = models.ForeignKey(
        "DatasetFile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    caption = models.TextField(blank=True)
    caption_typed = models.BooleanField(default=False, help_text="Typed in the page: sidecar files do not replace it.")
    caption_auto = models.BooleanField(default=False, help_text="Written by the captioner and not edited since.")
    caption_extraction = models.ForeignKey(
        "prep.Extraction", on_delete=models.SET_NULL, null=True, blank=True, related_name="caption_pairs"
    )
    target_meta = models.JSONField(default=dict, blank=True, help_text="What probing the target found.")
    reference_meta = models.JSONField(default=dict, blank=True, help_text="What probing the reference found.")
    voice_meta = models.JSONField(default=dict, blank=True, help_text="What probing the reference voice found.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    messages = models.JSONField(
        default=list, blank=True, help_text="Validation findings: [{level, code, text}] in plain language."
    )
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "position", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="unique_pair_name_per_dataset")]

    def __str__(self) -> str:
        return self.name

    @property
    def blocks_launch(self) -> bool:
        return self.status in (self.Status.ERROR, self.Status.PENDING, self.Status.CHECKING)

    def add_message(self, level: str, code: str, text: str) -> None:
        entry: dict[str, Any] = {"level": level, "code": code, "text": text}
        self.messages = [*self.messages, entry]


class PairJob(Job):
    """A pair's clips checked (decoded to the end) or cut into shots on a `cpu` worker: work too long for a request.

    The pair's own `status` says "being checked" meanwhile; the job makes sure it never stays so for a worker that
    died. A split replaces the pair, so the job keeps its dataset and the pair's name.
    """

    class Action(models.TextChoices):
        CHECK = "check", "Check the clips"
        SPLIT = "split", "Cut into shots"

    class State(models.TextChoices):
        QUEUED = "queued", "Waiting for a worker"
        RUNNING = "running", "Working"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINAL_STATES = (State.DONE, State.FAILED, State.CANCELLED)
    QUEUED, RUNNING, FAILED, CANCELLED = State.QUEUED, State.RUNNING, State.FAILED, State.CANCELLED
    HELD_STATES = (State.RUNNING,)

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="pair_jobs")
    pair = models.ForeignKey(ClipPair, on_delete=models.SET_NULL, null=True, blank=True, related_name="jobs")
    pair_name = models.CharField(max_length=255)
    action = models.CharField(max_length=10, choices=Action.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.QUEUED, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.pair_name}"


class DatasetFile(models.Model):
    """One uploaded file, under the name the creator gave it (pairing works on these names)."""

    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Image"
        AUDIO = "audio", "Sound"
        CAPTION = "caption", "Caption"
        MANIFEST = "manifest", "Manifest"

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=500, help_text="Relative path as uploaded, e.g. targets/clip.mp4.")
    file = models.FileField(upload_to=_dataset_file_upload_to, max_length=500)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, db_index=True)
    poster = models.FileField(upload_to=_dataset_file_upload_to, max_length=500, blank=True,
                              help_text="A still from the clip for previews (made when the clip is checked).")
    preview = models.FileField(
        upload_to=_dataset_file_upload_to, max_length=500, blank=True,
        help_text="A small H.264 copy in standard colours for clips a browser may not play (HEVC, ProRes, HDR…), "
        "made when the clip is checked. Training always uses the original.")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name"], name="unique_file_name_per_dataset")]

    def __str__(self) -> str:
        return self.name

    @property
    def stored_names(self) -> list[str]:
        return [f.name for f in (self.file, self.poster, self.preview) if f and f.name]


def _piece_upload_to(instance: UploadPiece, filename: str) -> str:
    upload = instance.upload
    return (f"users/{upload.dataset.owner_id}/datasets/{upload.dataset_id}/partial/{upload.key}/"
            f"{instance.offset:015d}")


class PartialUpload(models.Model):
    """A large file arriving in pieces. What has arrived is kept, so after a lost connection, a closed tab or a
    new day the creator's browser goes on from `received` instead of sending the whole file again."""

    key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="partial_uploads")
    name = models.CharField(max_length=500, help_text="Relative path the file will have, e.g. targets/clip.mp4.")
    size = models.BigIntegerField(help_text="Bytes the whole file has.")
    fingerprint = models.CharField(
        max_length=100, blank=True,
        help_text="The browser's last-modified time: a changed file with the same name and size starts over.")
    received = models.BigIntegerField(default=0, help_text="Bytes stored so far, from the start of the file.")
    outcome = models.JSONField(
        null=True, blank=True,
        help_text="Once the whole file was stored or refused: what the last piece's answer said, kept for a browser "
        "that lost that answer (putting a large file together can outlast a proxy's timeout).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["dataset", "name"]
        constraints = [models.UniqueConstraint(fields=["dataset", "name", "size", "fingerprint"],
                                               name="one_partial_upload_per_file")]

    def __str__(self) -> str:
        return f"{self.name} ({self.received}/{self.size})"


class UploadPiece(models.Model):
    """Bytes `offset` to `offset + length` of a partial upload, stored as one object until the file is whole."""

    upload = models.ForeignKey(PartialUpload, on_delete=models.CASCADE, related_name="pieces")
    offset = models.BigIntegerField()
    length = models.BigIntegerField()
    file = models.FileField(upload_to=_piece_upload_to, max_length=500)

    class Meta:
        ordering = ["upload", "offset"]
        constraints = [models.UniqueConstraint(fields=["upload", "offset"], name="one_piece_per_offset")]

    def __str__(self) -> str:
        return f"{self.upload.name}@{self.offset}"
