"""What a finished run measured about this server's speed, kept per model and training size for the wizard's
estimate (issue 20: "what a creator sees is true").

The worker times its own stages on one clock (`StageClock`, fed by training.reporting's hooks and by the runner):
from the moment it takes the run to the moment the adapter is stored, waiting in the queue left out. A run that
succeeded on its first attempt, without resuming, is recorded (`record_speeds`) as five figures:
- prepare: seconds per training clip (fetching, conforming and encoding the clips),
- load: seconds per run (sample prompts encoded, the model made ready, and the first step, which pays one-off costs),
- step: seconds per training step (checkpoints along the way included),
- sample: seconds per validation sample (the held-out loss included),
- save: seconds per run for the rest (the final checkpoint, the adapter file, storing it),
so that the five, multiplied out for the same settings, give back the run's launch-to-ready time. Each figure is
the mean of the last `WINDOW` runs at that size, so a faster driver or a busier machine shows within a few runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from training.models import MeasuredSpeed

Stage = MeasuredSpeed.Stage
WINDOW = 5  # runs the running mean spans: recent enough to follow a change, enough to smooth one odd run


@dataclass(frozen=True)
class SpeedKey:
    """The size a run trained at: its largest bucket (the one each step costs most at), frames, reference size and
    rank, for one model."""

    model: str
    width: int
    height: int
    frames: int
    reference_downscale: int
    rank: int

    def as_fields(self) -> dict[str, object]:
        return {"model": self.model, "width": self.width, "height": self.height, "frames": self.frames,
                "reference_downscale": self.reference_downscale, "rank": self.rank}


def key_of(model: str, cfg: object) -> SpeedKey:
    """The key of an engine TrainConfig (duck-typed: this module never imports the engine)."""
    largest = max(cfg.buckets, key=lambda b: b.width * b.height)  # type: ignore[attr-defined]
    return SpeedKey(model, largest.width, largest.height, largest.frames,
                    cfg.data.reference_downscale_factor, cfg.lora.rank)  # type: ignore[attr-defined]


@dataclass
class StageClock:
    """Seconds spent in each stage of one attempt, and how many clips, steps and samples they covered.

    The engine reports when a stage starts, not when it ends; each report closes the stage before it. After the
    last step, and after the last samples, the time goes to `save`.
    """

    clock: Callable[[], float] = time.monotonic
    current: str = Stage.PREPARE
    seconds: dict[str, float] = field(default_factory=dict)
    clips: int = 0
    steps: int = 0  # steps timed in the `step` stage: every step but the first
    samples: int = 0
    _since: float | None = None
    _started: float | None = None

    def __post_init__(self) -> None:
        self._since = self._started = self.clock()

    def _enter(self, stage: str) -> None:
        now = self.clock()
        assert self._since is not None
        self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self._since
        self.current, self._since = stage, now

    def preparing(self, total: int) -> None:
        self.clips = max(self.clips, total)
        self._enter(Stage.PREPARE)

    def loading(self) -> None:
        self._enter(Stage.LOAD)

    def stepped(self, step: int, total: int) -> None:
        """A step ended: the first one closes loading; the last one opens saving."""
        if self.current == Stage.STEP:
            self.steps += 1
        self._enter(Stage.SAVE if step >= total else Stage.STEP)

    def sampling(self, total: int) -> None:
        if self.current != Stage.SAMPLE:
            self.samples += total
            self._enter(Stage.SAMPLE)

    def sampled(self, step: int, total: int) -> None:
        """Samples written: training goes on, or after the last step the adapter is saved."""
        self._enter(Stage.SAVE if step >= total else Stage.STEP)

    def stop(self) -> float:
        """Close the last stage; the whole attempt's seconds."""
        self._enter(self.current)
        assert self._started is not None and self._since is not None
        return self._since - self._started

    def per_unit(self) -> dict[str, float]:
        """Seconds per clip, run, step, sample and run, for the stages this attempt measured."""
        counts = {Stage.PREPARE: self.clips, Stage.LOAD: 1, Stage.STEP: self.steps, Stage.SAMPLE: self.samples,
                  Stage.SAVE: 1}
        out = {str(stage): self.seconds.get(stage, 0.0) / n for stage, n in counts.items() if n > 0}
        if not self.samples:
            # No sample was made: whatever the sampling stage took (the held-out loss) belongs with saving.
            out[Stage.SAVE] = out.get(Stage.SAVE, 0.0) + self.seconds.get(Stage.SAMPLE, 0.0)
        return out


def record_speeds(key: SpeedKey, clock: StageClock) -> None:
    """Fold one finished attempt into this server's running means for its size."""
    now = timezone.now()
    for stage, seconds in clock.per_unit().items():
        with transaction.atomic():
            row, created = MeasuredSpeed.objects.select_for_update().get_or_create(
                **key.as_fields(), stage=stage, defaults={"seconds": seconds, "runs": 1, "updated_at": now})
            if created:
                continue
            row.runs += 1
            row.seconds += (seconds - row.seconds) / min(row.runs, WINDOW)
            row.updated_at = now
            row.save(update_fields=["runs", "seconds", "updated_at"])
