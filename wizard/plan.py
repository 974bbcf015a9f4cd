"""Training settings: presets, the creator's choices, the rules they must obey, and the engine config.

`TrainingSettings` is what the Config step edits and the draft stores; `to_train_config` turns it into the
dict the engine's TrainConfig validates once the runner adds paths (manifest, output_dir, model).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.conf import settings

from wizard.recipes import Recipe
from wizard.validation import Shape, largest_frames_at_most

FRAME_CHOICES = tuple(range(9, 258, 8))  # 8n+1
RANK_CHOICES = (8, 16, 32, 64, 128)
DOWNSCALE_CHOICES = (1, 2)
FPS_CHOICES = (24.0, 25.0, 30.0)


@dataclass(frozen=True)
class Preset:
    slug: str
    label: str
    blurb: str
    # per model: (width, height, frames, step factor, rank or 0 for the recipe's)
    shapes: dict[str, tuple[int, int, int, float, int]]
    checkpoint_every: int
    validation_every: int


PRESETS: dict[str, Preset] = {
    "quick": Preset(
        "quick", "Quick test",
        "A short, small run to check that your pairs teach something before you spend hours. Not for final use.",
        {"ltx-2.3": (512, 288, 49, 0.25, 16), "tiny": (128, 96, 17, 0.05, 8)}, 100, 100,
    ),
    "balanced": Preset(
        "balanced", "Balanced",
        "The recommended start: the size the official adapters train at, a few seconds per clip, the recipe's "
        "usual number of steps.",
        {"ltx-2.3": (768, 448, 81, 1.0, 0), "tiny": (160, 96, 25, 0.15, 16)}, 250, 250,
    ),
    "high": Preset(
        "high", "High quality",
        "Longer clips and more steps for the final adapter. Takes about twice as long as Balanced.",
        {"ltx-2.3": (768, 448, 121, 1.5, 0), "tiny": (256, 160, 33, 0.3, 32)}, 250, 250,
    ),
}


@dataclass
class TrainingSettings:
    width: int
    height: int
    frames: int
    fps: float
    reference_downscale_factor: int
    rank: int
    learning_rate: float
    steps: int
    first_frame_probability: float
    checkpoint_every: int
    validation_every: int
    trigger_phrase: str = ""
    validation_prompts: list[str] = field(default_factory=list)
    validation_pairs: list[int] = field(default_factory=list)
    hold_out_validation: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSettings:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def shape(self) -> Shape:
        return Shape(self.width, self.height, self.frames, self.fps)


def model_preset() -> str:
    return "tiny" if settings.MODEL_PRESET == "tiny" else "ltx-2.3"


def _nearest_fps(fps: float) -> float:
    return min(FPS_CHOICES, key=lambda choice: abs(choice - fps))


@dataclass(frozen=True)
class ClipFacts:
    """What the settings need to know about the dataset's checked clips."""

    fps: list[float]
    available_frames: list[int]  # per pair, at its own fps
    portrait: int
    landscape: int

    @classmethod
    def from_metas(cls, metas: list[dict[str, Any]]) -> ClipFacts:
        usable = [m for m in metas if m.get("frames") and m.get("fps")]
        return cls(
            fps=[m["fps"] for m in usable],
            available_frames=[m["frames"] for m in usable],
            portrait=sum(1 for m in usable if m["height"] > m["width"]),
            landscape=sum(1 for m in usable if m["height"] <= m["width"]),
        )

    def common_fps(self) -> float:
        """24, 25 or 30, whichever the clips are closest to most often (24 when nothing is known)."""
        if not self.fps:
            return 24.0
        nearest = Counter(_nearest_fps(f) for f in self.fps)
        return nearest.most_common(1)[0][0]

    def longest_fitting(self, fps: float) -> int:
        """The most frames every clip can give at `fps` (a big number when nothing is known)."""
        if not self.available_frames:
            return 10_000
        return min(int(n * fps / f + 1e-6) for n, f in zip(self.available_frames, self.fps, strict=True))


def preset_settings(preset_slug: str, recipe: Recipe, facts: ClipFacts, model: str | None = None) -> TrainingSettings:
    """The preset's settings for this recipe, fitted to the clips (frame count, orientation, frame rate)."""
    preset = PRESETS.get(preset_slug, PRESETS["balanced"])
    model = model or model_preset()
    width, height, frames, step_factor, rank = preset.shapes[model]
    if facts.portrait > facts.landscape:
        width, height = height, width
    fps = facts.common_fps()
    fitting = largest_frames_at_most(facts.longest_fitting(fps))
    if fitting >= 9:
        frames = min(frames, fitting)
    defaults = recipe.defaults
    steps = max(50, int(round(defaults.steps * step_factor / 50) * 50))
    return TrainingSettings(
        width=width, height=height, frames=frames, fps=fps,
        reference_downscale_factor=defaults.reference_downscale_factor,
        rank=rank if rank and rank < defaults.rank else defaults.rank,
        learning_rate=defaults.learning_rate,
        steps=steps,
        first_frame_probability=defaults.first_frame_probability,
        checkpoint_every=min(preset.checkpoint_every, steps),
        validation_every=min(preset.validation_every, steps),
        trigger_phrase=recipe.trigger_phrase,
    )


def shape_problems(width: int, height: int, frames: int, downscale: int) -> list[str]:
    """The model's hard rules, explained, with the nearest values that work."""
    problems = []
    step = 32 * downscale
    for label, value in (("Width", width), ("Height", height)):
        if value % step:
            lower, upper = value // step * step, (value // step + 1) * step
            why = "the model works in blocks of 32 pixels" + (
                f", and a reference at 1/{downscale} size needs blocks of {step}" if downscale > 1 else "")
            problems.append(f"{label} {value} is not a multiple of {step} ({why}). Try {lower or upper} or {upper}.")
    if frames < 1 or (frames - 1) % 8:
        lower = largest_frames_at_most(frames)
        problems.append(f"{frames} frames does not work: the model packs frames as 1 + a multiple of 8 "
                        f"(…, 49, 81, 121). Try {lower or 9} or {lower + 8 if lower else 17}.")
    return problems


def to_train_config(values: TrainingSettings, recipe: Recipe, reference_names: list[str], name: str) -> dict[str, Any]:
    """The run's `config` JSON: everything but the paths the runner fills in (manifest, output_dir, model).

    `held_out_pairs` (pair ids) is the runner's, not the engine's: it becomes `data.validation_indices` once the
    runner has written the manifest and knows each pair's row.
    """
    return {
        "held_out_pairs": list(values.validation_pairs) if values.hold_out_validation else [],
        "bucket": {"width": values.width, "height": values.height, "frames": values.frames, "fps": values.fps},
        "data": {
            "reference_downscale_factor": values.reference_downscale_factor,
            "trigger": values.trigger_phrase.strip(),
        },
        "lora": {"rank": values.rank},
        "optim": {"steps": values.steps, "learning_rate": values.learning_rate},
        "diffusion": {"first_frame_conditioning_p": values.first_frame_probability},
        "checkpoint": {"every": values.checkpoint_every},
        "validation": {
            "every": values.validation_every,
            "prompts": list(values.validation_prompts),
            # Storage names of the chosen pairs' reference clips; the runner downloads them like the dataset.
            "reference_videos": reference_names,
        },
        "export": {"name": name, "recipe": recipe.slug},
    }
