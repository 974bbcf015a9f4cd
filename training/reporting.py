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

from jobs.lifecycle import JobLost
from training.events import record_event
from training.models import RunEvent, RunMetric, TrainingRun
from training.progress import stage_text, step_text, time_left
from training.speeds import StageClock
from training.storage import store_checkpoint, store_samples

if TYPE_CHECKING:
    from engine.train import Progress, TrainingHooks
    from jobs.lifecycle import Holder


Stage = TrainingRun.Stage


class RunReporter:
    """Hooks for one run. Progress is flushed at most every `flush_seconds`; flags are read as often.

    `training_reason` is what the page says once the clips are prepared and the run moves to training; `clock`
    times each stage for this server's measured speeds (training.speeds).
    """

    def __init__(self, holder: Holder, flush_seconds: float = 1.0, training_reason: str = "Training.",
                 clock: StageClock | None = None) -> None:
        self.holder = holder
        self.clock = clock or StageClock()
        self.run_id = holder.job.pk
        self.flush_seconds = flush_seconds
        self.training_reason = training_reason
        self._points: list[RunMetric] = []
        self._latest: Progress | None = None
        self._last_flush = 0.0
        self._last_flag_read = 0.0
        self._cancel = False
        self._stage = ""
        self._last_stage_write = 0.0

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
            on_stage=self.on_stage,
        )

    # --- progress

    def on_progress(self, progress: Progress) -> None:
        self.clock.stepped(progress.step, progress.total)
        self._latest = progress
        self._points.append(
            RunMetric(run_id=self.run_id, step=progress.step, loss=progress.loss, learning_rate=progress.lr)
        )
        if (time.monotonic() - self._last_flush >= self.flush_seconds or progress.step == progress.total
                or self._stage != Stage.TRAINING):  # back from samples: the page shows training again at once
            self.flush()

    def flush(self) -> None:
        progress, points = self._latest, self._points
        if progress is None or not points:
            return
        self._points, self._last_flush = [], time.monotonic()
        self._start_training()
        with transaction.atomic():
            # First, so a worker that lost the run (JobLost) writes nothing, not even loss points.
            self.holder.update(
                step=progress.step,
                total_steps=progress.total,
                loss=progress.loss,
                steps_per_second=progress.steps_per_s,
                eta_seconds=progress.eta_s,
                peak_memory_bytes=int(progress.peak_memory_mb * 1024 * 1024),
                stage=Stage.TRAINING, stage_done=0, stage_total=0,
            )
            self._stage = Stage.TRAINING
            RunMetric.objects.bulk_create(points, ignore_conflicts=True)  # a resumed run may redo a few steps
            record_event(self.run_id, RunEvent.Kind.PROGRESS, {
                "stage": Stage.TRAINING,
                "text": step_text(progress.step, progress.total),
                "step": progress.step,
                "total": progress.total,
                "loss": progress.loss,
                "lr": progress.lr,
                "steps_per_second": progress.steps_per_s,
                "eta_seconds": progress.eta_s,
                "eta_text": time_left(progress.eta_s),
                "peak_memory_mb": progress.peak_memory_mb,
                "points": [[point.step, point.loss] for point in points],
            })

    def on_stage(self, stage: str, done: int, total: int) -> None:
        """A stage outside the steps (preparing clip i of n, getting the model ready, making sample i of n): saved
        on the run and sent as a progress event, at most every `flush_seconds` within a stage (its first and last
        clip or sample always), so a page shows it live and a reload shows it too."""
        self._time_stage(stage, total)
        now = time.monotonic()
        changed = stage != self._stage
        if not changed and done not in (1, total) and now - self._last_stage_write < self.flush_seconds:
            return
        if changed:
            self.flush()  # the steps so far come before the samples made after them
            if stage == Stage.LOADING:
                self._start_training()
        self._stage, self._last_stage_write = stage, now
        text = stage_text(stage, done, total)
        with transaction.atomic():
            self.holder.update(stage=stage, stage_done=done, stage_total=total)
            record_event(self.run_id, RunEvent.Kind.PROGRESS,
                         {"stage": stage, "done": done, "total": total, "text": text})

    def _time_stage(self, stage: str, total: int) -> None:
        if stage == Stage.PREPARING:
            self.clock.preparing(total)
        elif stage == Stage.LOADING:
            self.clock.loading()
        elif stage == Stage.SAMPLING:
            self.clock.sampling(total)

    def _start_training(self) -> None:
        """The clips are prepared: the run is training from here (the state the page and its buttons go by)."""
        if self.holder.job.state == TrainingRun.State.TRAINING:
            return
        if not self.holder.end(TrainingRun.State.TRAINING, self.training_reason):
            raise JobLost

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
        self.clock.sampled(step, self._latest.total if self._latest else step)
        self.flush()
        samples = store_samples(self.run_id, step, files)
        for number, sample in enumerate(samples, start=1):
            # With several validation clips, the log's lines would otherwise read as the same one twice.
            which = f" {number} of {len(samples)}" if len(samples) > 1 else ""
            record_event(self.run_id, RunEvent.Kind.SAMPLE, {
                "step": step, "sample_id": sample.pk, "url": reverse("sample_video", args=[sample.pk]),
                "prompt": sample.prompt,
                "message": f"Validation sample{which} at step {step}",
            })

    def on_log(self, message: str) -> None:
        record_event(self.run_id, RunEvent.Kind.LOG, {"message": message})
