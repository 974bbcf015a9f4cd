"""Training settings: presets, the creator's choices, the rules they must obey, and the engine config.

`TrainingSettings` is what the Config step edits and the draft stores; `to_train_config` turns it into the
dict the engine's TrainConfig validates once the runner adds paths (manifest, output_dir, model).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from django.conf import settings

from datasets.recipes import Recipe
from datasets.validation import MIN_TARGET_FRAMES, Shape, assigned_shape, cut_fraction, largest_frames_at_most
from engine.buckets import frames_at, window_count
from engine.model_paths import SMALL_MODELS
from training.models_config import available_bases, default_base

FRAME_CHOICES = tuple(range(MIN_TARGET_FRAMES, 258, 8))  # 8n+1
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


# The small models are narrow and short-trained: at LTX-2.3's learning rates an adapter barely moves in a quick run.
# Their recipes' rates are multiplied by these (tiny: the 6e-3 its learning test uses; demo: measured on the
# creator walk's Restoration adapter in the Studio, docs/benchmarks.md: at 200 steps 2e-3, 4e-3, 6e-3 and 8e-3 give
# 18.90, 19.19, 19.26 and 19.29 dB against the clean clip, so twenty times is most of the gain, short of the rates
# where it levels off).
SMALL_MODEL_LEARNING_RATE_FACTOR = {"tiny": 30.0, "demo": 20.0}

# The audio regime adapters train in (the engine's diffusion.audio). The demo model generates with its audio stream
# joined, and training so measured better in the Studio's pipeline (bench/demo_model.py: restoration gain 2.27 vs
# 2.0, 13.2 vs 12.4 dB); LTX-2.3 keeps ltx-trainer's video-only regime until it is measured on the real weights.
TRAINING_AUDIO = {"demo": "silence"}

# LTX-2.3 and LTX-2.5 share their bucket rules and IC-LoRA training defaults (engine.bases: one ShapeRules and one
# TrainingDefaults for both, as ltx-trainer trains them with one config), so each preset gives both the same figures.
_FULL_QUICK = (512, 288, 49, 0.25, 16)
_FULL_BALANCED = (768, 448, 81, 1.0, 0)
_FULL_HIGH = (768, 448, 121, 1.5, 0)

TRAINING_PRESETS: dict[str, Preset] = {
    "quick": Preset(
        "quick", "Quick test",
        "A short, small run to check that your pairs teach something before you spend hours. Not for final use.",
        {"ltx-2.3": _FULL_QUICK, "ltx-2.5": _FULL_QUICK,
         "tiny": (128, 96, 17, 0.05, 8), "demo": (256, 160, 17, 0.125, 16)},
        # Samples halfway on the demo model (250 steps), four times on LTX-2.3 (500): each round costs as many
        # steps as it takes to render, and a check needs to see it learn, not every stage of it.
        125, 125,
    ),
    "balanced": Preset(
        "balanced", "Balanced",
        "The recommended start: the size the official adapters train at, a few seconds per clip, the recipe's "
        "usual number of steps.",
        {"ltx-2.3": _FULL_BALANCED, "ltx-2.5": _FULL_BALANCED,
         "tiny": (160, 96, 25, 0.15, 16), "demo": (256, 160, 25, 0.2, 16)},
        250, 250,
    ),
    "high": Preset(
        "high", "High quality",
        "Longer clips and more steps for the final adapter. Takes about twice as long as Balanced.",
        {"ltx-2.3": _FULL_HIGH, "ltx-2.5": _FULL_HIGH,
         "tiny": (256, 160, 33, 0.3, 32), "demo": (384, 224, 33, 0.4, 32)},
        250, 250,
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
    # Long clips cut into several training clips (the engine's data.whole_clips); off for drafts saved before it.
    whole_clips: bool = False
    # More shapes beside width x height, as [width, height] (same frames and fps): one per orientation of the clips.
    extra_sizes: list[list[int]] = field(default_factory=list)
    # The base model (engine.bases) it trains on; drafts saved before bases were chosen train on the server's default.
    base: str = field(default_factory=default_base)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingSettings:
        names = {f.name for f in fields(cls)}
        # A blank base (a form without the choice: this server offers one) is the server's default.
        return cls(**{k: v for k, v in data.items() if k in names and (k != "base" or v)})

    @property
    def seconds(self) -> float:
        return self.frames / self.fps

    @property
    def shape(self) -> Shape:
        """The first shape (the engine's `bucket`)."""
        return Shape(self.width, self.height, self.frames, self.fps)

    @property
    def shapes(self) -> list[Shape]:
        """Every shape clips train at, the first one first."""
        return [self.shape, *(Shape(w, h, self.frames, self.fps) for w, h in self.extra_sizes)]

    @property
    def largest(self) -> Shape:
        """The shape with the most pixels: the one time and memory are estimated for."""
        return max(self.shapes, key=lambda shape: shape.pixels)


def model_preset(base: str | None = None) -> str:
    """Which figures the plan and the estimate use: the small model's (tiny, demo; the same for each of its bases) or
    the real base's (`base` when this server offers it, else its default base)."""
    if settings.MODEL_PRESET in SMALL_MODELS:
        return str(settings.MODEL_PRESET)
    return base if base in available_bases() else default_base()


def training_hardware() -> dict[str, Any]:
    """What the training workers have, as `estimate` takes it: int8 weights, and their GPU memory (the real model
    only: the tiny one runs anywhere)."""
    real = model_preset() not in SMALL_MODELS
    return {"int8": settings.TRAINING_QUANTIZE == "int8",
            "gpu_memory_gib": float(settings.TRAINING_GPU_MEMORY_GB) if real else None}


def _nearest_fps(fps: float) -> float:
    return min(FPS_CHOICES, key=lambda choice: abs(choice - fps))


def orientation(width: int, height: int) -> str:
    """landscape, portrait or square (sides within 10% of each other: 1080×1080, 1000×960)."""
    ratio = width / height
    return "landscape" if ratio > 1.1 else "portrait" if ratio < 1 / 1.1 else "square"


ORIENTATIONS = ("landscape", "portrait", "square")


@dataclass(frozen=True)
class ClipFacts:
    """What the settings need to know about the dataset's checked clips."""

    fps: list[float]
    available_frames: list[int]  # per pair, at its own fps
    portrait: int
    landscape: int
    square: int = 0

    @classmethod
    def from_metas(cls, metas: list[dict[str, Any]]) -> ClipFacts:
        usable = [m for m in metas if m.get("frames") and m.get("fps")]
        count = Counter(orientation(m["width"], m["height"]) for m in usable)
        return cls(
            fps=[m["fps"] for m in usable],
            available_frames=[m["frames"] for m in usable],
            portrait=count["portrait"],
            landscape=count["landscape"],
            square=count["square"],
        )

    def orientations(self) -> list[str]:
        """The orientations the clips have, the most common first (landscape when nothing is known)."""
        count = {"landscape": self.landscape, "portrait": self.portrait, "square": self.square}
        present = [o for o in ORIENTATIONS if count[o]]
        return sorted(present, key=lambda o: -count[o]) or ["landscape"]

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
        return min(frames_at(n, f, fps) for n, f in zip(self.available_frames, self.fps, strict=True))


@dataclass(frozen=True)
class StartingSettings:
    """What a recipe starts from on this server, as its help page lists it before any clip is uploaded."""

    rank: int
    learning_rate: float
    balanced_steps: int
    quick_steps: int

    @property
    def learning_rate_text(self) -> str:
        """As a person writes it: 0.002, not 0.0020000000000000005 or 2e-03."""
        return f"{self.learning_rate:.6f}".rstrip("0").rstrip(".")


def starting_settings(recipe: Recipe, model: str | None = None) -> StartingSettings:
    """The Balanced preset's settings for `recipe` on this server's model (the small models train at their own rates
    and step counts, not LTX-2.3's), and the Quick test's steps."""
    facts = ClipFacts.from_metas([])
    balanced = preset_settings("balanced", recipe, facts, model)
    return StartingSettings(balanced.rank, balanced.learning_rate, balanced.steps,
                            preset_settings("quick", recipe, facts, model).steps)


def preset_settings(preset_slug: str, recipe: Recipe, facts: ClipFacts, model: str | None = None,
                    base: str = "") -> TrainingSettings:
    """The preset's settings for this recipe on `base` (the server's default base when blank), fitted to the clips:
    frame count, frame rate, and one shape per orientation the clips have (landscape, portrait, square; the most
    common first), each with about the preset's pixels, so no clip is cropped into a shape of the other orientation."""
    preset = TRAINING_PRESETS.get(preset_slug, TRAINING_PRESETS["balanced"])
    base = base or default_base()
    model = model or model_preset(base)
    width, height, frames, step_factor, rank = preset.shapes[model]
    defaults = recipe.defaults
    block = 32 * defaults.reference_downscale_factor
    # Two orientations may round to one shape in blocks of 64 (a small model's 128×96 turns 128×128 either way): the
    # engine refuses a bucket listed twice, and the clips of both train at it.
    (width, height), *extra = dict.fromkeys(size_for(o, width, height, block) for o in facts.orientations())
    fps = facts.common_fps()
    fitting = largest_frames_at_most(facts.longest_fitting(fps))
    if fitting >= 9:
        frames = min(frames, fitting)
    steps = max(50, int(round(defaults.steps * step_factor / 50) * 50))
    return TrainingSettings(
        width=width, height=height, frames=frames, fps=fps,
        reference_downscale_factor=defaults.reference_downscale_factor,
        rank=rank if rank and rank < defaults.rank else defaults.rank,
        learning_rate=defaults.learning_rate * SMALL_MODEL_LEARNING_RATE_FACTOR.get(model, 1.0),
        steps=steps,
        first_frame_probability=defaults.first_frame_probability,
        checkpoint_every=min(preset.checkpoint_every, steps),
        validation_every=min(preset.validation_every, steps),
        trigger_phrase=recipe.trigger_phrase,
        extra_sizes=[list(size) for size in extra],
        whole_clips=True,
        base=base,
    )


def training_clips(metas: list[dict[str, Any]], frames: int, fps: float, whole_clips: bool) -> int:
    """How many training clips pairs with these target facts give: one each, or with `whole_clips` one per
    `frames` of each clip at `fps` (engine.buckets.window_count, the engine's own rule)."""
    if not whole_clips:
        return len(metas)
    total = 0
    for meta in metas:
        own_fps, own_frames = meta.get("fps"), meta.get("frames")
        available = frames_at(own_frames, own_fps, fps) if own_fps and own_frames else frames
        total += window_count(available, frames)
    return total


def sample_count(steps: int, validation_every: int, chosen: int) -> int:
    """Validation samples a run makes: one per chosen clip (the first pair when none is chosen) every
    `validation_every` steps before the end, and once more at the end (engine.train always samples last)."""
    rounds = (steps - 1) // validation_every + 1 if validation_every else 1
    return rounds * max(1, chosen)


def size_for(kind: str, width: int, height: int, block: int) -> tuple[int, int]:
    """The preset's landscape size turned to an orientation with about the same pixels: landscape as is, portrait
    turned, square the side nearest √(w·h) in whole blocks (32, or 32 × the reference downscale)."""
    long, short = max(width, height), min(width, height)
    if block > 32:  # a reduced reference: the presets' sides are whole 32s, not always whole blocks; nearest ones
        long, short = (max(block, (side + block // 2) // block * block) for side in (long, short))
    if kind == "portrait":
        return short, long
    if kind == "square":
        side = max(block, round(math.sqrt(long * short) / block) * block)
        return side, side
    return long, short


@dataclass(frozen=True)
class ShapeUse:
    """One training shape and how many of the clips train at it."""

    shape: Shape
    pairs: int

    @property
    def kind(self) -> str:
        return orientation(self.shape.width, self.shape.height)


def shape_uses(metas: list[dict[str, Any]], shapes: list[Shape]) -> list[ShapeUse]:
    """Every shape with the number of clips (probed targets) the engine will put in it."""
    count = Counter(assigned_shape(m, shapes) for m in metas if m.get("frames") and m.get("fps"))
    return [ShapeUse(shape, count[shape]) for shape in shapes]


def cropped_notes(metas: list[dict[str, Any]], shapes: list[Shape]) -> list[str]:
    """For each orientation of clips without a shape of its own (one was removed, or never added): where those
    clips go and how much of each picture that cuts off."""
    usable = [m for m in metas if m.get("frames") and m.get("fps")]
    own = {orientation(s.width, s.height) for s in shapes}
    notes = []
    for kind in ORIENTATIONS:
        clips = [m for m in usable if orientation(m["width"], m["height"]) == kind]
        if not clips or kind in own:
            continue
        into = Counter(assigned_shape(m, shapes) for m in clips).most_common(1)[0][0]
        cut = max(cut_fraction(m["width"], m["height"], into)[0] for m in clips)
        n = len(clips)
        them = "them their" if n != 1 else "it its"
        notes.append(f"No {kind} shape: your {n} {kind} clip{'s are' if n != 1 else ' is'} cropped into "
                     f"{into.width}×{into.height}, which cuts off up to {cut:.0%} of the picture. Pick the preset "
                     f"again to give {them} own shape.")
    return notes


def size_problems(width: int, height: int, downscale: int) -> list[str]:
    """Width and height must be whole blocks of 32 (of 64 with a half-size reference), with the nearest that do."""
    problems = []
    step = 32 * downscale
    for label, value in (("Width", width), ("Height", height)):
        if value % step:
            lower, upper = value // step * step, (value // step + 1) * step
            why = "the model works in blocks of 32 pixels" + (
                f", and a reference at 1/{downscale} size needs blocks of {step}" if downscale > 1 else "")
            problems.append(f"{label} {value} is not a multiple of {step} ({why}). Try {lower or upper} or {upper}.")
    return problems


def frames_problems(frames: int) -> list[str]:
    if frames < 1 or (frames - 1) % 8:
        lower = largest_frames_at_most(frames)
        return [f"{frames} frames does not work: the model packs frames as 1 + a multiple of 8 "
                f"(…, 49, 81, 121). Try {lower or 9} or {lower + 8 if lower else 17}."]
    return []


def shape_problems(width: int, height: int, frames: int, downscale: int) -> list[str]:
    """The model's hard rules, explained, with the nearest values that work."""
    return [*size_problems(width, height, downscale), *frames_problems(frames)]


def to_train_config(values: TrainingSettings, recipe: Recipe, reference_names: list[str], name: str,
                    voice_names: list[str] | None = None) -> dict[str, Any]:
    """The run's `config` JSON: everything but the paths the runner fills in (manifest, output_dir, model).

    `held_out_pairs` (pair ids) is the runner's, not the engine's: it becomes `data.validation_indices` once the
    runner has written the manifest and knows each pair's row. With `voice_names` (the pairs have reference voices,
    the manifest's `reference_audio` column; these are the storage names of the sample clips' voices, one per
    reference in `reference_names`) the adapter learns the voice: the engine's `data.reference_audio`, which trains
    the clips' own sound (`diffusion.audio: clip`).
    """
    config: dict[str, Any] = {
        "held_out_pairs": list(values.validation_pairs) if values.hold_out_validation else [],
        "bucket": {"width": values.width, "height": values.height, "frames": values.frames, "fps": values.fps},
        "extra_buckets": [{"width": w, "height": h, "frames": values.frames, "fps": values.fps}
                          for w, h in values.extra_sizes],
        "data": {
            "reference_downscale_factor": values.reference_downscale_factor,
            "trigger": values.trigger_phrase.strip(),
            "whole_clips": values.whole_clips,
        },
        "lora": {"rank": values.rank},
        "optim": {"steps": values.steps, "learning_rate": values.learning_rate},
        "diffusion": {"first_frame_conditioning_p": values.first_frame_probability,
                      "audio": TRAINING_AUDIO.get(model_preset(values.base), "isolated")},
        "checkpoint": {"every": values.checkpoint_every},
        "validation": {
            "every": values.validation_every,
            "prompts": list(values.validation_prompts),
            # Storage names of the chosen pairs' reference clips; the runner downloads them like the dataset.
            "reference_videos": reference_names,
        },
        "export": {"name": name, "recipe": recipe.slug},
    }
    if voice_names is not None:
        config["data"]["reference_audio"] = True
        config["diffusion"]["audio"] = "clip"
        # Storage names, like the reference videos: the runner downloads them.
        config["validation"]["reference_audios"] = list(voice_names)
    return config
