"""Training runs and everything they produce. The job state lives here, never in a worker process."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from engine.bases import BASES, LTX_2_3
from jobs.models import Job

# The base models a run can train on and an adapter be made for (engine.bases), as the database stores them.
BASE_CHOICES = [(name, base.title) for name, base in BASES.items()]


def _run_upload_to(instance: Any, filename: str) -> str:
    run = instance.run
    return f"users/{run.owner_id}/runs/{run.pk}/{filename}"


class TrainingRun(Job):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        QUEUED = "queued", "Waiting for a GPU"
        PREPARING = "preparing", "Preparing the dataset"
        TRAINING = "training", "Training"
        FINISHING = "finishing", "Saving the adapter"
        SUCCEEDED = "succeeded", "Finished"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    class Stage(models.TextChoices):
        """What the worker does within the held states, as the engine reports it (engine.train's stages)."""

        NONE = "", "Nothing reported yet"
        PREPARING = "preparing", "Preparing the clips"
        LOADING = "loading", "Getting the model ready"
        TRAINING = "training", "Training"
        SAMPLING = "sampling", "Making samples"

    ACTIVE_STATES = (State.QUEUED, State.PREPARING, State.TRAINING, State.FINISHING)
    FINAL_STATES = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
    QUEUED, RUNNING, FAILED, CANCELLED = State.QUEUED, State.PREPARING, State.FAILED, State.CANCELLED
    HELD_STATES = (State.PREPARING, State.TRAINING, State.FINISHING)

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runs")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.PROTECT, related_name="runs", null=True)
    name = models.CharField(max_length=200)
    recipe = models.CharField(max_length=40)
    base = models.CharField(
        max_length=20, choices=BASE_CHOICES, default=LTX_2_3,
        help_text="The base model it trains on (engine.bases): the worker loads this one; its adapters work with it "
        "only. Runs from before bases were chosen trained on LTX-2.3.",
    )
    config = models.JSONField(default=dict, help_text="The validated trainer configuration.")
    state = models.CharField(max_length=12, choices=State.choices, default=State.DRAFT, db_index=True)
    priority = models.SmallIntegerField(default=0)
    resume_from = models.ForeignKey(
        "training.Checkpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="continued_by"
    )

    save_requested = models.BooleanField(default=False)
    sample_requested = models.BooleanField(default=False)

    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    loss = models.FloatField(null=True, blank=True)
    steps_per_second = models.FloatField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    peak_memory_bytes = models.BigIntegerField(null=True, blank=True)
    stage = models.CharField(
        max_length=12, choices=Stage.choices, blank=True, default=Stage.NONE,
        help_text="What the worker does now: the run page shows each stage with its own progress.",
    )
    stage_done = models.PositiveIntegerField(default=0, help_text="Clip or sample the stage is at (1-based).")
    stage_total = models.PositiveIntegerField(default=0, help_text="Clips or samples the stage has in all.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name

    @property
    def progress_percent(self) -> int:
        return int(100 * self.step / self.total_steps) if self.total_steps else 0


class RunEvent(models.Model):
    """One thing that happened to a run, in order. The run page rebuilds itself from these."""

    class Kind(models.TextChoices):
        STATE = "state", "State change"
        PROGRESS = "progress", "Progress"
        LOG = "log", "Log line"
        CHECKPOINT = "checkpoint", "Checkpoint saved"
        SAMPLE = "sample", "Validation sample"
        ERROR = "error", "Error"

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=12, choices=Kind.choices)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="unique_event_seq_per_run")]

    def __str__(self) -> str:
        return f"{self.run_id}#{self.seq} {self.kind}"

    def as_message(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "payload": self.payload,
            "at": self.created_at.isoformat(),
        }


class RunMetric(models.Model):
    """Loss curve points, written in batches by the worker."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metrics")
    step = models.PositiveIntegerField()
    loss = models.FloatField()
    learning_rate = models.FloatField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="unique_metric_step_per_run")]

    def __str__(self) -> str:
        return f"{self.run_id}@{self.step}: {self.loss:.4f}"


class Checkpoint(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="checkpoints")
    step = models.PositiveIntegerField()
    adapter_file = models.FileField(
        upload_to=_run_upload_to, max_length=500, help_text="The adapter in ComfyUI form, as downloaded and tried."
    )
    training_file = models.FileField(
        upload_to=_run_upload_to, max_length=500, blank=True, help_text="The adapter weights in training form."
    )
    state_file = models.FileField(
        upload_to=_run_upload_to, max_length=500, blank=True, help_text="Optimizer/scheduler/RNG state for resume."
    )
    size_bytes = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="unique_checkpoint_step_per_run")]

    def __str__(self) -> str:
        return f"{self.run} · step {self.step}"


class ValidationSample(models.Model):
    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="samples")
    step = models.PositiveIntegerField()
    prompt = models.TextField()
    reference_file = models.FileField(upload_to=_run_upload_to, max_length=500, blank=True)
    video_file = models.FileField(upload_to=_run_upload_to, max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "step", "pk"]

    def __str__(self) -> str:
        return f"{self.run} · sample at step {self.step}"


class WorkerHeartbeat(models.Model):
    """Last sign of life of each Celery worker, with what it serves and runs on."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.JSONField(default=list)
    pid = models.PositiveIntegerField(null=True, blank=True)
    info = models.JSONField(default=dict, help_text="Device, GPU name and memory.")
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return self.hostname

    @classmethod
    def record(cls, hostname: str, queues: list[str], *, pid: int, info: dict[str, Any]) -> None:
        now = timezone.now()
        with transaction.atomic():
            updated = cls.objects.filter(hostname=hostname).update(queues=queues, pid=pid, info=info, last_seen=now)
            if not updated:
                cls.objects.create(hostname=hostname, queues=queues, pid=pid, info=info, started_at=now, last_seen=now)


class MeasuredSpeed(models.Model):
    """How fast this server did one stage of a finished run, per model and training size: the wizard's estimate
    uses these before any benchmark table (training.speeds records them; wizard.estimate reads them)."""

    class Stage(models.TextChoices):
        PREPARE = "prepare", "Preparing, per clip"
        LOAD = "load", "Getting the model ready, per run"
        STEP = "step", "Training, per step"
        SAMPLE = "sample", "Making samples, per sample"
        SAVE = "save", "Saving the adapter, per run"

    model = models.CharField(max_length=40, help_text="The MODEL_PRESET the worker trained with.")
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    frames = models.PositiveIntegerField()
    reference_downscale = models.PositiveSmallIntegerField(default=1)
    rank = models.PositiveIntegerField()
    stage = models.CharField(max_length=8, choices=Stage.choices)
    seconds = models.FloatField(help_text="Seconds per clip, step, sample or run: the mean of the last runs.")
    runs = models.PositiveIntegerField(default=0, help_text="Finished runs measured so far.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(
            fields=["model", "width", "height", "frames", "reference_downscale", "rank", "stage"],
            name="unique_measured_speed")]

    def __str__(self) -> str:
        return f"{self.model} {self.width}×{self.height}×{self.frames} r{self.rank} {self.stage}: {self.seconds:.3f} s"
