"""The fields every job has. The state lives in the database, never in a worker process."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models


class Job(models.Model):
    """Abstract: a piece of work a Celery worker claims, does and ends, which survives any process dying.

    Each kind declares its own `state` field (its labels are what creators read) and names the states below.
    """

    QUEUED: ClassVar[str]
    RUNNING: ClassVar[str]  # the state a claim moves the job to
    HELD_STATES: ClassVar[tuple[str, ...]]  # a worker holds the job and must beat
    FINAL_STATES: ClassVar[tuple[str, ...]]
    FAILED: ClassVar[str]
    CANCELLED: ClassVar[str]

    state: str  # declared by each kind, with its own choices
    pk: int
    objects: ClassVar[models.Manager[Any]]  # each kind's own default manager; the stubs give abstract models none

    worker = models.CharField(max_length=255, blank=True, help_text="The Celery worker holding the job.")
    task_id = models.CharField(
        max_length=64, blank=True,
        help_text="The broker message the holder is running: the same message delivered again means its "
        "first worker process died.",
    )
    worker_pid = models.PositiveIntegerField(
        null=True, blank=True, help_text="The holder's process on its worker's machine: alive means it still holds.",
    )
    lease = models.PositiveIntegerField(
        default=0, help_text="Raised whenever the job changes hands; a worker holding an older lease has lost it.",
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The holder's last sign of life.")
    claimed_at = models.DateTimeField(null=True, blank=True, help_text="When the current holder took the job.")
    progress_at = models.DateTimeField(null=True, blank=True, help_text="When the job last moved forward.")
    attempts = models.PositiveSmallIntegerField(
        default=0, help_text="Starts by a worker, not counting the resumptions after a lost worker.",
    )
    losses = models.PositiveSmallIntegerField(default=0, help_text="Times the worker holding the job vanished.")
    stalled_losses = models.PositiveSmallIntegerField(
        default=0, help_text="Losses in a row with no progress in between (a job that stops its machine itself).",
    )
    lost_seconds = models.FloatField(
        default=0.0, help_text="Time spent without a worker after losses, against JOB_RECOVERY_MINUTES.",
    )
    cancel_requested = models.BooleanField(default=False, help_text="The holder stops at its next step.")
    state_reason = models.CharField(max_length=500, blank=True, help_text="The last change, in plain words.")
    error_kind = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True, help_text="Why it failed, in plain words.")
    error_ref = models.CharField(
        max_length=120, blank=True, help_text="Where an operator finds the details (the worker log line).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When the watchdog last sent the task again (a lost message is resent).",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.state == self.QUEUED or self.state in self.HELD_STATES

    @property
    def is_held(self) -> bool:
        return self.state in self.HELD_STATES
