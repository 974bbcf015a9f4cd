"""Turns the engine's hooks into database rows and live events, batched so a fast loop stays fast.

The worker writes the truth to the database (run fields, loss points, events) and pushes each event to
the run's channel group; the page can always rebuild itself from the database.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django.urls import reverse

from training.events import record_event
from training.models import RunEvent, RunMetric, TrainingRun
from training.storage import store_checkpoint, store_samples

if TYPE_CHECKING:
    from engine.train import Progress, TrainingHooks
    from jobs.lifecycle import Holder


class RunReporter:
    """Hooks for one run. Progress is flushed at most every `flush_seconds`; flags are read as often."""

    def __init__(self, holder: Holder, flush_seconds: float = 1.0) -> None:
        self.holder = holder
        self.run_id = holder.job.pk
        self.flush_seconds = flush_seconds
        self._points: list[RunMetric] = []
        self._latest: Progress | None = None
        self._last_flush = 0.0
        self._last_flag_read = 0.0
        self._cancel = False

    def hooks(self) -> TrainingHooks:
        # engine.train imports torch: loaded when training starts, not by the tests that import the runner
        from engine.train import TrainingHooks

        return TrainingHooks(
            on_progress=self.on_progress,
            should_cancel=self.should_cancel,
            should_save=lambda: self._take_flag("save_requested"),
            should_sample=lambda: self._take_flag("sample_requested"),
            on_checkpoint=self.on_checkpoint,
            on_sample=self.on_sample,
            on_log=self.on_log,
        )

    # --- progress

    def on_progress(self, progress: Progress) -> None:
        self._latest = progress
        self._points.append(
            RunMetric(run_id=self.run_id, step=progress.step, loss=progress.loss, learning_rate=progress.lr)
        )
        if time.monotonic() - self._last_flush >= self.flush_seconds or progress.step == progress.total:
            self.flush()

    def flush(self) -> None:
        progress, points = self._latest, self._points
        if progress is None:
            return
        self._points, self._last_flush = [], time.monotonic()
        with transaction.atomic():
            # First, so a worker that lost the run (JobLost) writes nothing, not even loss points.
            self.holder.update(
                step=progress.step,
                total_steps=progress.total,
                loss=progress.loss,
                steps_per_second=progress.steps_per_s,
                eta_seconds=progress.eta_s,
                peak_memory_bytes=int(progress.peak_memory_mb * 1024 * 1024),
            )
            RunMetric.objects.bulk_create(points, ignore_conflicts=True)  # a resumed run may redo a few steps
            record_event(self.run_id, RunEvent.Kind.PROGRESS, {
                "step": progress.step,
                "total": progress.total,
                "loss": progress.loss,
                "lr": progress.lr,
                "steps_per_second": progress.steps_per_s,
                "eta_seconds": progress.eta_s,
                "peak_memory_mb": progress.peak_memory_mb,
                "points": [[point.step, point.loss] for point in points],
            })

    # --- flags (read from the database, at most every flush interval)

    def should_cancel(self) -> bool:
        """True once the creator asked to stop, or once this worker no longer holds the run."""
        if self.holder.lost.is_set():
            return True
        if not self._cancel and time.monotonic() - self._last_flag_read >= self.flush_seconds:
            self._last_flag_read = time.monotonic()
            self._cancel = self.holder.should_stop()
        return self._cancel

    def _take_flag(self, name: str) -> bool:
        return TrainingRun.objects.filter(pk=self.run_id, **{name: True}).update(**{name: False}) > 0

    # --- outputs

    def on_checkpoint(self, step: int, path: Path) -> None:
        self.flush()
        checkpoint = store_checkpoint(self.run_id, step, path)
        record_event(self.run_id, RunEvent.Kind.CHECKPOINT, {
            "step": step, "checkpoint_id": checkpoint.pk, "size_bytes": checkpoint.size_bytes,
            "message": f"Checkpoint saved at step {step}",
        })

    def on_sample(self, step: int, files: list[Path]) -> None:
        self.flush()
        for sample in store_samples(self.run_id, step, files):
            record_event(self.run_id, RunEvent.Kind.SAMPLE, {
                "step": step, "sample_id": sample.pk, "url": reverse("sample_video", args=[sample.pk]),
                "prompt": sample.prompt,
                "message": f"Validation sample at step {step}",
            })

    def on_log(self, message: str) -> None:
        record_event(self.run_id, RunEvent.Kind.LOG, {"message": message})
