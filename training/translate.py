"""A run's settings translated from one base model's rules to another's, with what changed in a creator's words.

An adapter only works with the base it was trained on, so "train again on another base" trains the same clips and
settings from the start on the other base. What the bases' records (engine.bases) say differs is carried over here:
bucket sizes in the target's blocks of pixels, frame counts in its `temporal * n + 1`, the values the creator left
at the source base's defaults moved to the target's (the ones they chose stay), and the text encoder that reads the
captions. Plain Python: no Django, so it is tested on its own.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from engine.bases import Base
from engine.config import BucketConfig, DiffusionConfig, LoraConfig, OptimConfig

# The training defaults of a base (engine.bases.TrainingDefaults) as keys of a run config, with the engine's own
# default for a config that leaves the key out (those are what the run trained with), and the Settings step's name.
DEFAULT_KEYS: tuple[tuple[str, str, str, Any], ...] = (
    ("rank", "lora", "rank", LoraConfig.model_fields["rank"].default),
    ("learning_rate", "optim", "learning_rate", OptimConfig.model_fields["learning_rate"].default),
    ("steps", "optim", "steps", OptimConfig.model_fields["steps"].default),
    ("first_frame_conditioning_p", "diffusion", "first_frame_conditioning_p",
     DiffusionConfig.model_fields["first_frame_conditioning_p"].default),
    ("audio", "diffusion", "audio", DiffusionConfig.model_fields["audio"].default),
)
LABELS = {"rank": "Adapter capacity (rank)", "learning_rate": "Learning rate", "steps": "Training steps",
          "first_frame_conditioning_p": "First-frame practice", "audio": "Audio"}
AUDIO_TEXT = {"isolated": "video only", "silence": "video with silent audio alongside"}
# How a creator knows each text encoder (engine.bases.TextEncoderKind.family).
ENCODER_NAMES = {"gemma3": "Google's Gemma 3", "gemma4_unified": "Lightricks' fine-tuned Gemma 4"}

_BUCKET_DEFAULTS = {name: field.default for name, field in BucketConfig.model_fields.items()}


def translate_config(config: dict[str, Any], source: Base, target: Base) -> tuple[dict[str, Any], list[str]]:
    """`config` (a run's stored settings, trained on `source`) for a run on `target`, and what changed, as plain
    sentences for the creator. `config` itself is left as it is."""
    new = copy.deepcopy(config)
    # A continued run's config lets a checkpoint of a shorter run resume; the new run starts from the start.
    new.get("checkpoint", {}).pop("extend", None)
    changes = [
        *_translate_shapes(new, source, target),
        *_translate_defaults(new, source, target),
        _encoder_sentence(source, target),
    ]
    return new, changes


# --- Shapes


def round_side(pixels: int, block: int) -> int:
    """The multiple of `block` nearest `pixels` (halves up), at least one block."""
    return max(block, (pixels + block // 2) // block * block)


def round_frames(frames: int, step: int) -> int:
    """The most frames of the form `step * n + 1` that are at most `frames`, so every clip long enough before still
    is; a single frame stays one, and a clip shorter than one step gets the shortest with motion, `step + 1`."""
    if frames <= 1:
        return 1
    return step * max(1, (frames - 1) // step) + 1


def _translate_shapes(config: dict[str, Any], source: Base, target: Base) -> list[str]:
    data = config.get("data") or {}
    downscale = int(data.get("reference_downscale_factor") or 1)
    temporal = int(data.get("reference_temporal_scale_factor") or 1)
    block = target.shapes.spatial_compression * downscale
    frame_step = target.shapes.temporal_compression * temporal

    buckets = [{**_BUCKET_DEFAULTS, **(config.get("bucket") or {})},
               *({**_BUCKET_DEFAULTS, **extra} for extra in config.get("extra_buckets") or [])]
    before = [(int(b["width"]), int(b["height"]), int(b["frames"])) for b in buckets]
    after = [(round_side(w, block), round_side(h, block), round_frames(f, frame_step)) for w, h, f in before]
    if after == before:
        return [f"Clips stay {_shapes_text(before)}: {target.title} uses the same sizes."]

    stored = [config.get("bucket") or {}, *(config.get("extra_buckets") or [])]
    kept: list[dict[str, Any]] = []
    shown: list[tuple[int, int, int]] = []
    merged: list[tuple[int, int, int]] = []
    for bucket, was, shape in zip(buckets, stored, after, strict=True):
        if shape in shown:
            merged.append(shape)  # the engine refuses a bucket listed twice
            continue
        shown.append(shape)
        kept.append(_only_set({**bucket, "width": shape[0], "height": shape[1], "frames": shape[2]}, was))
    config["bucket"] = kept[0]
    if "extra_buckets" in config:
        config["extra_buckets"] = kept[1:]

    reasons = []
    if (target.shapes.spatial_compression != source.shapes.spatial_compression
            and any(a[:2] != b[:2] for a, b in zip(after, before, strict=True))):
        half = f", and the reference at 1/{downscale} size needs blocks of {block}" if downscale > 1 else ""
        reasons.append(f"{target.title} works in blocks of {target.shapes.spatial_compression} pixels{half} "
                       f"({source.title} in blocks of {source.shapes.spatial_compression})")
    if any(a[2] > b[2] for a, b in zip(after, before, strict=True)):
        reasons.append(f"{target.title} packs frames as 1 + a multiple of {frame_step}, and its shortest clip with "
                       f"motion has {frame_step + 1} frames")
    elif any(a[2] != b[2] for a, b in zip(after, before, strict=True)):
        reasons.append(f"{target.title} packs frames as 1 + a multiple of {frame_step}, so clips get fewer frames, "
                       "never more, and every clip is still long enough")
    why = "; ".join(reasons) or f"to fit {target.title}'s rules"
    sentences = [f"Clips change from {_shapes_text(before)} to {_shapes_text(shown)}: {why}."]
    for shape in dict.fromkeys(merged):
        sentences.append(f"Two of the shapes both became {shape[0]}×{shape[1]}, so the clips of both train at it.")
    return sentences


def _only_set(bucket: dict[str, Any], stored: dict[str, Any]) -> dict[str, Any]:
    """`bucket` with only the keys the stored one had, plus the ones that changed: a config keeps leaving the
    engine's defaults out where it did."""
    return {key: value for key, value in bucket.items()
            if key in stored or value != _BUCKET_DEFAULTS.get(key)}


def _shapes_text(shapes: list[tuple[int, int, int]]) -> str:
    """"512×288, 49 frames", or "512×288 and 288×512, 49 frames" when the shapes share a frame count."""
    frames = {f for _, _, f in shapes}
    if len(frames) == 1:
        sizes = [f"{w}×{h}" for w, h, _ in shapes]
        listed = sizes[0] if len(sizes) == 1 else f"{', '.join(sizes[:-1])} and {sizes[-1]}"
        return f"{listed}, {frames.pop()} frames"
    return ", ".join(f"{w}×{h} at {f} frames" for w, h, f in shapes)


# --- Defaults


def value_text(key: str, value: Any) -> str:
    """A setting's value as the Settings step writes it: 0.0002, not 2e-04; 2,000 steps; video only."""
    if key == "learning_rate":
        return f"{Decimal(repr(float(value))):f}"
    if key == "steps":
        return f"{int(value):,}"
    if key == "audio":
        return AUDIO_TEXT.get(str(value), str(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _verb(key: str, one: str, many: str) -> str:
    """The word that agrees with the setting's name: "Learning rate goes", "Training steps go"."""
    return many if key == "steps" else one


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(a)), abs(float(b)))
    return bool(a == b)


def _translate_defaults(config: dict[str, Any], source: Base, target: Base) -> list[str]:
    sentences: list[str] = []
    unchanged: list[str] = []
    new_steps = None
    for key, section, name, engine_default in DEFAULT_KEYS:
        was_default, now_default = getattr(source.training, key), getattr(target.training, key)
        value = (config.get(section) or {}).get(name, engine_default)
        if _same(was_default, now_default):
            unchanged.append(key)
        elif _same(value, was_default):
            config.setdefault(section, {})[name] = now_default
            sentences.append(f"{LABELS[key]} {_verb(key, 'goes', 'go')} from {value_text(key, value)} to "
                             f"{value_text(key, now_default)}, {target.title}'s default: you had left "
                             f"{_verb(key, 'it', 'them')} at {source.title}'s.")
            if key == "steps":
                new_steps = int(now_default)
        else:
            sentences.append(f"{LABELS[key]} {_verb(key, 'stays', 'stay')} {value_text(key, value)}, as you chose "
                             f"{_verb(key, 'it', 'them')} ({target.title}'s default would be "
                             f"{value_text(key, now_default)}).")
    if unchanged:
        names = [LABELS[unchanged[0]], *(LABELS[key][0].lower() + LABELS[key][1:] for key in unchanged[1:])]
        listed = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        one = len(names) == 1 and unchanged[0] != "steps"
        verb = "stays as it was" if one else "stay as they were"
        same = (f"{target.title} starts from the same defaults as {source.title}" if not sentences
                else f"{target.title}'s default is the same" if len(names) == 1
                else f"{target.title}'s defaults for these are the same")
        sentences.insert(0, f"{listed} {verb}: {same}.")
    if new_steps is not None:
        sentences.extend(_fit_intervals(config, new_steps))
    return sentences


def _fit_intervals(config: dict[str, Any], steps: int) -> list[str]:
    """Checkpoints and samples no further apart than the run is long, once its steps changed."""
    sentences = []
    for section, noun in (("checkpoint", "A checkpoint is saved"), ("validation", "Samples are made")):
        every = (config.get(section) or {}).get("every")
        if every and every > steps:
            config[section]["every"] = steps
            sentences.append(f"{noun} at step {steps:,}, the end, instead of every {every:,} steps.")
    return sentences


# --- Text encoder


def _encoder_sentence(source: Base, target: Base) -> str:
    if target.text_encoder.family == source.text_encoder.family:
        return f"Captions are read by the same text encoder as on {source.title}; your captions stay as you wrote them."
    name = ENCODER_NAMES.get(target.text_encoder.family, target.text_encoder.family)
    return (f"Captions will be read by {target.title}'s own text encoder ({name}), so they are encoded again before "
            "training; your captions and trigger phrase stay as you wrote them.")
