"""What the run page says about a run's progress: the stages a creator recognises, each with its own progress, and
one way of saying how long something takes (`about`), used for every duration the page shows.

Everything here is read from the run's fields, which the worker keeps current (training.reporting), so a page
reloaded mid-preparation shows what the live page showed: "Preparing clip 3 of 9".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from training.models import TrainingRun

State = TrainingRun.State
Stage = TrainingRun.Stage


def about(seconds: float | None) -> str:
    """A duration as people say it: "a few seconds", "about 40 s", "about 2 min", "about 1 h 20 min"; "" when it is
    not known. Rounded to what matters at each scale, so a live estimate does not flicker between forms."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 2.5:
        return "a few seconds"
    fives = 5 * math.floor(seconds / 5 + 0.5)
    if fives < 60:
        return f"about {fives} s"
    minutes = max(1, math.floor(seconds / 60 + 0.5))
    if minutes < 60:
        return f"about {minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"


def time_left(seconds: float | None) -> str:
    """The time left as the page says it: "about 2 min left"; "" when not known."""
    said = about(seconds)
    return f"{said} left" if said else ""


def stage_text(stage: str, done: int, total: int) -> str:
    """What the worker is doing within a stage, in the words the page shows: "Preparing clip 3 of 9"."""
    if stage == Stage.PREPARING:
        return f"Preparing clip {done} of {total}" if total else "Getting your clips"
    if stage == Stage.LOADING:
        return "Getting the model ready to train"
    if stage == Stage.SAMPLING:
        return f"Making sample {done} of {total}" if done else "Measuring how well it does on the held-out clips"
    return ""


def step_text(step: int, total: int) -> str:
    return f"Step {step} of {total}"


@dataclass(frozen=True)
class StageLine:
    """One line of the run page's list of stages."""

    key: str  # waiting, preparing, training, sampling, saving
    label: str
    status: str  # done, current, paused (training while samples are made), stopped (where it failed), todo
    detail: str = ""
    percent: int | None = None  # the current stage's own progress bar, when it can be measured


LABELS = {
    "waiting": "Waiting for a machine",
    "preparing": "Preparing your clips",
    "training": "Training",
    "sampling": "Making samples",
    "saving": "Saving the adapter",
}
ORDER = list(LABELS)


def _percent(done: float, total: float) -> int:
    return max(0, min(100, int(100 * done / total))) if total else 0


def _stage_of(run: TrainingRun) -> str | None:
    """The page's stage the run is in (or stopped in); None for a draft or a finished run."""
    state, stage = run.state, run.stage
    if state == State.QUEUED:
        return "waiting"
    if state == State.PREPARING:
        return "preparing"
    if state == State.TRAINING:
        return "sampling" if stage == Stage.SAMPLING else "training"
    if state == State.FINISHING:
        return "saving"
    if state in (State.FAILED, State.CANCELLED):
        if run.started_at is None:
            return "waiting"
        return {Stage.NONE: "preparing", Stage.PREPARING: "preparing", Stage.SAMPLING: "sampling"}.get(
            Stage(stage), "training"
        )
    return None


def _waiting_detail(run: TrainingRun, runs_ahead: int | None, now: datetime) -> str:
    parts = []
    if run.queued_at is not None:
        waited = about((now - run.queued_at).total_seconds())
        if waited:
            parts.append(f"Waiting for {waited} so far.")
    if runs_ahead == 0:
        parts.append("Yours is next in line.")
    elif runs_ahead:
        parts.append(f"{runs_ahead} training{'s' if runs_ahead != 1 else ''} ahead of yours.")
    return " ".join(parts)


def _current(run: TrainingRun, key: str, runs_ahead: int | None, now: datetime) -> tuple[str, int | None]:
    """(detail, percent) of the stage the run is in."""
    if key == "waiting":
        return _waiting_detail(run, runs_ahead, now), None
    if key == "preparing":
        done, total = (run.stage_done, run.stage_total) if run.stage == Stage.PREPARING else (0, 0)
        return stage_text(Stage.PREPARING, done, total), (_percent(done - 1, total) if total else None)
    if key == "training":
        if run.stage == Stage.LOADING:
            return stage_text(Stage.LOADING, 0, 0), None
        detail = step_text(run.step, run.total_steps)
        left = time_left(run.eta_seconds) if run.step else ""
        return (f"{detail} · {left}" if left else detail), _percent(run.step, run.total_steps)
    if key == "sampling":
        total = run.stage_total
        return stage_text(Stage.SAMPLING, run.stage_done, total), (
            _percent(run.stage_done - 1, total) if total and run.stage_done else None
        )
    return "", None  # saving: short, and nothing to count


def _done(run: TrainingRun, key: str, label: str) -> StageLine:
    """A stage behind the run: ticked, and for training how far it went."""
    detail = f"{run.step} step{'s' if run.step != 1 else ''}" if key == "training" and run.step else ""
    return StageLine(key, label, "done", detail)


def run_stages(run: TrainingRun, runs_ahead: int | None = None, now: datetime | None = None) -> list[StageLine]:
    """The run's stages in order: those behind it done, the one it is in with its own progress, the rest to come.

    Mid-run samples are made between steps: training then waits (paused) while "Making samples" is current.
    """
    now = now or timezone.now()
    at = _stage_of(run)
    ended = run.state in (State.FAILED, State.CANCELLED)
    if run.state == State.SUCCEEDED:
        return [_done(run, key, label) for key, label in LABELS.items()]
    lines = []
    for index, (key, label) in enumerate(LABELS.items()):
        if at is None:
            lines.append(StageLine(key, label, "todo"))
        elif index < ORDER.index(at):
            lines.append(_done(run, key, label))
        elif key == at and ended:
            lines.append(
                StageLine(key, label, "stopped", "Failed here." if run.state == State.FAILED else "Stopped here.")
            )
        elif key == at:
            detail, percent = _current(run, key, runs_ahead, now)
            lines.append(StageLine(key, label, "current", detail, percent))
        else:
            lines.append(StageLine(key, label, "todo"))
    if at == "sampling" and not ended and run.step < run.total_steps:
        # Samples part-way through: training is not done, it goes on once they are made.
        lines[ORDER.index("training")] = StageLine(
            "training",
            LABELS["training"],
            "paused",
            f"{step_text(run.step, run.total_steps)} · goes on once the samples are made",
            _percent(run.step, run.total_steps),
        )
    return lines
