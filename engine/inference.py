"""Inference with `LTX2InContextPipeline`, framework-free: the one pipeline call (`call_pipeline`), used by the
Studio's generations (`generate`) and by training's validation samples (`engine.sample`), so both make a video
the same way.

Everything a creator types is checked and snapped here *before* the pipeline sees it (`snap_settings`):
diffusers checks height/width but not the frame count, and a wrong frame count crashes deep inside the VAE.
`generate` then runs the pipeline with the IC-LoRA (and an optional second, ordinary "effect" LoRA), the
attention strength and mask, and optionally a baseline: the very same call with the IC-LoRA switched off,
with the same seed, so the creator sees what the adapter adds.

The checks need neither torch nor numpy (the web process uses them); both are imported where a mask is checked
or a generation runs.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .buckets import ordinal

if TYPE_CHECKING:
    import numpy as np
    import torch

ICLORA = "iclora"
EFFECT = "effect"

MAX_FRAMES = 257  # ~10 s at 25 fps; the model drifts beyond and memory grows quickly
MAX_SIDE = 2048
MAX_STEPS = 100
MAX_SEED = 2**32 - 1


class SettingsError(ValueError):
    """A setting that cannot be used, with the field it belongs to and a plain reason."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class InferenceError(RuntimeError):
    """The generation could not be made; the message says why in words a creator understands."""


@dataclass
class GenerationSpec:
    """Everything `generate` needs besides the pipeline and the files. Values are already snapped."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    num_frames: int = 17
    height: int = 128
    width: int = 128
    frame_rate: float = 24.0
    num_inference_steps: int = 20
    guidance_scale: float = 1.0
    adapter_scale: float = 1.0
    attention_strength: float = 1.0
    reference_downscale_factor: int = 1
    effect_scale: float = 0.8
    distilled: bool = False  # fixed distilled sigmas, no guidance (fast previews on the distilled checkpoint)
    max_sequence_length: int = 256
    still_reference: bool = False  # one still image (identity adapters) instead of a video
    reference_temporal_scale_factor: int = 1  # the adapter's: its reference keeps every S-th frame (fps / S)
    reference_audio_placement: str = "before"  # the adapter's (metadata): where a reference voice sits in time

    @property
    def reference_frames(self) -> int:
        """Frames of the conformed reference (and of its attention mask): 1 for a still image, else every S-th of
        the output's frames."""
        return 1 if self.still_reference else (self.num_frames - 1) // self.reference_temporal_scale_factor + 1

    @property
    def reference_fps(self) -> float:
        """The frame rate the reference is conformed at: the output's, divided by S."""
        return self.frame_rate / self.reference_temporal_scale_factor

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Snapped:
    """Valid frame count and size, with one note per value that was changed."""

    num_frames: int
    height: int
    width: int
    notes: list[str] = field(default_factory=list)


def _whole(value: Any, field_name: str, label: str) -> int:
    if isinstance(value, bool):
        raise SettingsError(field_name, f"{label} must be a whole number.")
    if isinstance(value, float):
        if not math.isfinite(value) or value != int(value):
            raise SettingsError(field_name, f"{label} must be a whole number, not {value:g}.")
        return int(value)
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        raise SettingsError(field_name, f"{label} must be a whole number, not “{value}”.") from None


def number(value: Any, field_name: str, label: str, low: float, high: float) -> float:
    """A finite number in [low, high], or a SettingsError saying which range is allowed."""
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        raise SettingsError(field_name, f"{label} must be a number, not “{value}”.") from None
    if not math.isfinite(result) or not low <= result <= high:
        raise SettingsError(field_name, f"{label} must be between {low:g} and {high:g} (got {result:g}).")
    return result


def snap_frames(frames: int, available: int | None = None, temporal: int = 1) -> tuple[int, str | None]:
    """The nearest valid frame count 8n+1 (8·S·n+1 for an adapter whose reference keeps every S-th frame; at most
    `available`, the reference's length), with a note."""
    if frames < 1:
        raise SettingsError("num_frames", "The number of frames must be at least 1.")
    if frames > MAX_FRAMES:
        raise SettingsError("num_frames", f"At most {MAX_FRAMES} frames per generation (asked for {frames}).")
    unit = 8 * temporal
    snapped = unit * round((frames - 1) / unit) + 1
    note = None
    if snapped != frames:
        rule = ("the model makes 8n+1 frames: 9, 17, 25, 33…" if temporal == 1 else
                f"this adapter's reference keeps every {ordinal(temporal)} frame, so {unit}n+1 frames: {unit + 1}, "
                f"{2 * unit + 1}, {3 * unit + 1}…")
        note = f"Frames: {frames} → {snapped} ({rule})."
    if available is not None and snapped > available:
        if available < 1:
            raise SettingsError("reference", "The reference video has no frames.")
        shorter = unit * ((available - 1) // unit) + 1
        note = f"Frames: {frames} → {shorter} (the reference video has only {available} frames at this frame rate)."
        snapped = shorter
    return snapped, note


def snap_side(value: int, unit: int, field_name: str, label: str) -> tuple[int, str | None]:
    if value < 1:
        raise SettingsError(field_name, f"The {label} must be a positive number of pixels.")
    if value > MAX_SIDE:
        raise SettingsError(field_name, f"The {label} can be at most {MAX_SIDE} pixels (asked for {value}).")
    snapped = max(unit, unit * round(value / unit))
    if snapped == value:
        return value, None
    why = "a multiple of 32" if unit == 32 else f"a multiple of {unit} (32 × the adapter's reference downscale)"
    return snapped, f"{label.capitalize()}: {value} → {snapped} pixels (must be {why})."


def snap_settings(
    num_frames: Any, height: Any, width: Any, downscale: int = 1, available_frames: int | None = None,
    temporal: int = 1,
) -> Snapped:
    """Snap frames to 8·S·n+1 (8n+1 when S = 1) and the size to multiples of 32·d; refuse what cannot be snapped
    sensibly."""
    if downscale < 1:
        raise SettingsError("reference_downscale_factor", "The reference downscale factor must be 1 or more.")
    frames, frame_note = snap_frames(_whole(num_frames, "num_frames", "Frames"), available_frames, temporal)
    unit = 32 * downscale
    h, h_note = snap_side(_whole(height, "height", "Height"), unit, "height", "height")
    w, w_note = snap_side(_whole(width, "width", "Width"), unit, "width", "width")
    return Snapped(frames, h, w, [n for n in (frame_note, h_note, w_note) if n])


# Within this (|log aspect| difference, about 10 %) a trained shape counts as the reference's shape.
SAME_SHAPE = 0.1


def fit_to_reference(
    width: int, height: int, ref_width: int, ref_height: int, unit: int, trained: Sequence[tuple[int, int]] = ()
) -> tuple[int, int]:
    """An output size with the reference's shape and about the pixels of `width` x `height`.

    The reference is scaled to cover the output and centre-cropped, so a size of another shape cuts part of it away
    (a portrait phone clip made landscape loses its top and bottom). A size the adapter was trained at (`trained`)
    with the reference's shape and about the asked pixels is taken as it is: the adapter knows it best. Otherwise
    the sides are multiples of `unit` (32 x the reference downscale).
    """
    if min(width, height, ref_width, ref_height) < 1:
        return width, height
    aspect, pixels = ref_width / ref_height, width * height
    for w, h in trained:
        if abs(math.log(w / h) - math.log(aspect)) < SAME_SHAPE and 0.85 <= w * h / pixels <= 1.15:
            return w, h
    fit_w = max(unit, unit * round(math.sqrt(pixels * aspect) / unit))
    fit_h = max(unit, unit * round(math.sqrt(pixels / aspect) / unit))
    return min(fit_w, MAX_SIDE - MAX_SIDE % unit), min(fit_h, MAX_SIDE - MAX_SIDE % unit)


def shape_name(width: int, height: int) -> str:
    if abs(math.log(width / height)) < SAME_SHAPE:
        return "square"
    return "portrait" if height > width else "landscape"


def pick_seed(value: Any) -> int:
    """A seed from the form, or a random one when left empty."""
    if value is None or str(value).strip() == "":
        return random.randint(0, MAX_SEED)
    seed = _whole(value, "seed", "Seed")
    if not 0 <= seed <= MAX_SEED:
        raise SettingsError("seed", f"The seed must be between 0 and {MAX_SEED}.")
    return seed


def check_spec(spec: GenerationSpec) -> None:
    """Refuse anything the pipeline would crash on, with a plain message (call before `generate`)."""
    snapped = snap_settings(spec.num_frames, spec.height, spec.width, spec.reference_downscale_factor,
                            temporal=spec.reference_temporal_scale_factor)
    if (snapped.num_frames, snapped.height, snapped.width) != (spec.num_frames, spec.height, spec.width):
        raise SettingsError("num_frames", "; ".join(snapped.notes))
    if not spec.prompt.strip():
        raise SettingsError("prompt", "Write a prompt: describe the video you want.")
    if not 1 <= spec.num_inference_steps <= MAX_STEPS:
        raise SettingsError("num_inference_steps", f"Steps must be between 1 and {MAX_STEPS}.")
    number(spec.adapter_scale, "adapter_scale", "Adapter scale", 0, 2)
    number(spec.attention_strength, "attention_strength", "Attention strength", 0, 1)
    number(spec.effect_scale, "effect_scale", "Effect LoRA scale", 0, 2)
    number(spec.guidance_scale, "guidance_scale", "Guidance", 1, 20)
    number(spec.frame_rate, "frame_rate", "Frame rate", 1, 60)


def check_mask(mask: torch.Tensor, num_frames: int) -> None:
    import torch  # only where a mask is checked: on the worker, beside the generation

    if mask.ndim != 5 or mask.shape[0] != 1 or mask.shape[1] != 1:
        raise SettingsError("mask", f"The attention mask must have shape (1, 1, F, H, W), not {tuple(mask.shape)}.")
    if mask.shape[2] != num_frames:
        raise SettingsError("mask", f"The attention mask has {mask.shape[2]} frames; the video has {num_frames}.")
    if not torch.isfinite(mask).all() or mask.min() < 0 or mask.max() > 1:
        raise SettingsError("mask", "The attention mask's values must lie between 0 and 1.")


def load_lora_file(path: str | Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file  # needs torch: on the worker only

    return load_file(str(path))


@dataclass
class GenerationResult:
    output: np.ndarray  # (F, H, W, 3) float in [0, 1]
    baseline: np.ndarray | None
    seconds: float
    audio: np.ndarray | None = None  # (channels, samples) in [-1, 1]: the output's sound, at audio_sample_rate
    baseline_audio: np.ndarray | None = None
    audio_sample_rate: int = 0


ProgressCallback = Callable[[int, int], None]


def spread_reference_time(coords: torch.Tensor, scale: int, fps: float) -> torch.Tensor:
    """Reference positions (B, 3, R, 2) of a reference at fps / `scale` (every `scale`-th frame), as Lightricks'
    ltx-core places them: time spread by `scale`, then moved back by (scale - 1) target frames so the reference's last
    patch ends with the target's, the causal first patch clamped to start at 0. `coords` were made at `fps` (the
    target's rate), as `rope.prepare_video_coords` makes them; returns a new tensor."""
    spread = coords.clone()
    spread[:, 0] = (coords[:, 0] * scale - (scale - 1) / fps).clamp(min=0)
    return spread


def call_pipeline(pipe: Any, reference: np.ndarray, **kwargs: Any) -> np.ndarray:
    """One video (F, H, W, 3) float in [0, 1]: `call_pipeline_av` (same arguments) without its sound."""
    return call_pipeline_av(pipe, reference, **kwargs)[0]


def call_pipeline_av(
    pipe: Any,
    reference: np.ndarray,
    *,
    height: int,
    width: int,
    num_frames: int,
    frame_rate: float,
    seed: int,
    downscale: int = 1,
    prompt: str | None = None,
    negative_prompt: str | None = None,
    prompt_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
    negative_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
    num_inference_steps: int = 20,
    distilled: bool = False,
    guidance_scale: float = 1.0,
    attention_strength: float = 1.0,
    attention_mask: torch.Tensor | None = None,
    lora_scale: float = 1.0,
    max_sequence_length: int = 1024,
    callback: Callable[..., dict[str, Any]] | None = None,
    temporal: int = 1,
    reference_audio: torch.Tensor | None = None,
    reference_audio_placement: str = "before",
) -> tuple[np.ndarray, np.ndarray]:
    """One video (F, H, W, 3) float in [0, 1] and its sound (channels, samples) in [-1, 1] at
    `pipe.vocoder.config.output_sampling_rate`, from a conformed reference (F_ref, H/d, W/d, 3) uint8.

    Either `prompt` (and `negative_prompt`) or pre-computed `prompt_embeds` (embeds, mask) from
    `pipe.encode_prompt` (and `negative_embeds`) is given. Audio guidance is set with the video one and STG /
    modality guidance are off, so each step costs one transformer call (two with CFG). `distilled` uses the
    distilled checkpoint's fixed sigmas without guidance. `attention_mask` is a pixel-space mask (1, 1, F_ref, H/d,
    W/d) in [0, 1] on the reference tokens; `lora_scale` scales every loaded LoRA at once (per-adapter weights are
    set with `pipe.set_adapters`). `callback` is the pipeline's `callback_on_step_end`. `temporal` is the adapter's
    reference temporal scale factor S: the reference then has (F-1)/S+1 frames at fps / S, and `pipe` must be an
    `engine.pipeline.ICLoRAPipeline` (what `engine.loader` loads). `reference_audio` (Ca, Lr, Ma), raw audio VAE
    latents of a reference voice (`engine.audio.encode_voice`), joins the audio stream as clean tokens placed by
    `reference_audio_placement` (an adapter trained with reference audio); it needs an `ICLoRAPipeline` too.
    """
    # Only where a generation runs: the web process imports this module for its checks, without torch.
    import numpy as np
    import torch
    from diffusers.pipelines.ltx2.pipeline_ltx2_ic_lora import LTX2ReferenceCondition
    from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES  # diffusers loads torch: worker only

    guidance = 1.0 if distilled else guidance_scale
    kwargs: dict[str, Any] = {}
    if prompt_embeds is not None:
        kwargs["prompt_embeds"], kwargs["prompt_attention_mask"] = prompt_embeds
        if negative_embeds is not None:
            kwargs["negative_prompt_embeds"], kwargs["negative_prompt_attention_mask"] = negative_embeds
    else:
        kwargs["prompt"] = prompt or ""
        kwargs["negative_prompt"] = negative_prompt or None
    if distilled:
        kwargs["sigmas"] = list(DISTILLED_SIGMA_VALUES)
        kwargs["num_inference_steps"] = len(DISTILLED_SIGMA_VALUES)
    else:
        kwargs["num_inference_steps"] = num_inference_steps
    if temporal != 1:
        if not hasattr(pipe, "reference_temporal_scale_factor"):
            raise InferenceError("This adapter's reference runs at a lower frame rate, which this pipeline cannot "
                                 "place in time: load it with engine.loader.")
        kwargs["reference_temporal_scale_factor"] = temporal
    if reference_audio is not None:
        if not hasattr(pipe, "reference_temporal_scale_factor"):
            raise InferenceError("This adapter listens to a reference voice, which this pipeline cannot take: load it "
                                 "with engine.loader.")
        kwargs["reference_audio_latents"] = reference_audio
        kwargs["reference_audio_placement"] = reference_audio_placement
    if attention_mask is not None:
        device = getattr(pipe, "_execution_device", torch.device("cpu"))
        kwargs["conditioning_attention_mask"] = attention_mask.to(device=device, dtype=torch.float32)
    video, audio = pipe(
        reference_conditions=[LTX2ReferenceCondition(frames=reference.astype(np.float32) / 255.0, strength=1.0)],
        reference_downscale_factor=downscale,
        conditioning_attention_strength=attention_strength,
        height=height,
        width=width,
        num_frames=num_frames,
        frame_rate=frame_rate,
        guidance_scale=guidance,
        # The audio twins must be set too, else each step costs extra transformer calls.
        audio_guidance_scale=guidance,
        stg_scale=0.0,
        audio_stg_scale=0.0,
        modality_scale=1.0,
        audio_modality_scale=1.0,
        guidance_rescale=0.0,
        audio_guidance_rescale=0.0,
        generator=torch.Generator(device="cpu").manual_seed(seed),
        attention_kwargs={"scale": lora_scale},
        callback_on_step_end=callback,
        max_sequence_length=max_sequence_length,
        output_type="np",
        return_dict=False,
        **kwargs,
    )
    sound = audio[0] if audio is not None else torch.zeros(1, 0)
    return np.asarray(video[0]), sound.float().cpu().numpy()


def steps_per_pass(spec: GenerationSpec) -> int:
    if spec.distilled:
        from diffusers.pipelines.ltx2.utils import DISTILLED_SIGMA_VALUES  # diffusers loads torch: worker only

        return len(DISTILLED_SIGMA_VALUES)
    return spec.num_inference_steps


def generate(
    pipe: Any,
    spec: GenerationSpec,
    reference: np.ndarray,
    adapter_path: str | Path | None,
    mask: torch.Tensor | None = None,
    effect_path: str | Path | None = None,
    with_baseline: bool = False,
    on_step: ProgressCallback | None = None,
    reference_audio: str | Path | None = None,
) -> GenerationResult:
    """Generate with the IC-LoRA at `adapter_path` (and optionally the effect LoRA), and the baseline.

    `reference` is the conformed reference video (F, H/d, W/d, 3) uint8 (see `engine.media.conform`).
    `mask` is a pixel-space attention mask (1, 1, F, H, W) in [0, 1] (see `studio.masks`). `on_step(done, total)`
    is called after every denoising step of both passes. LoRAs are unloaded again before returning, so a cached
    pipeline can serve the next generation. `reference_audio` is a voice file (5-15 s of the person speaking: wav,
    mp3, m4a or a video's sound) for an adapter trained with reference audio (metadata `reference_audio`); it is
    checked first (`engine.audio.load_voice`: a plain `AudioError` when unusable) and given to both passes.
    The result carries the generated sound too.
    """
    import torch  # only where a generation runs: the web process imports this module for its checks

    from .audio import encode_voice  # loads torch: only where a generation runs

    with torch.no_grad():
        voice = encode_voice(pipe, reference_audio) if reference_audio is not None else None
        return _generate(pipe, spec, reference, adapter_path, mask, effect_path, with_baseline, on_step, voice)


def _generate(
    pipe: Any,
    spec: GenerationSpec,
    reference: np.ndarray,
    adapter_path: str | Path | None,
    mask: torch.Tensor | None,
    effect_path: str | Path | None,
    with_baseline: bool,
    on_step: ProgressCallback | None,
    voice: torch.Tensor | None = None,
) -> GenerationResult:
    import torch  # only where a generation runs: the web process imports this module for its checks

    check_spec(spec)
    d = spec.reference_downscale_factor
    expected = (spec.reference_frames, spec.height // d, spec.width // d, 3)
    if reference.shape != expected:
        raise SettingsError("reference", f"The reference video is {reference.shape}, expected {expected}.")
    if mask is not None:
        check_mask(mask, spec.reference_frames)

    started = time.monotonic()
    per_pass = steps_per_pass(spec)
    total = per_pass * (2 if with_baseline else 1)
    done = 0

    def callback(_pipe: Any, _i: int, _t: Any, _kwargs: dict[str, Any]) -> dict[str, Any]:
        nonlocal done
        done += 1
        if on_step is not None:
            on_step(done, total)
        return {}

    names: list[str] = []
    weights: list[float] = []
    try:
        if adapter_path is not None:
            pipe.load_lora_weights(load_lora_file(adapter_path), adapter_name=ICLORA)
            names.append(ICLORA)
            weights.append(spec.adapter_scale)
        if effect_path is not None:
            pipe.load_lora_weights(load_lora_file(effect_path), adapter_name=EFFECT)
            names.append(EFFECT)
            weights.append(spec.effect_scale)
        if names:
            pipe.set_adapters(names, weights)

        def run_pass() -> tuple[np.ndarray, np.ndarray]:
            return call_pipeline_av(
                pipe, reference, height=spec.height, width=spec.width, num_frames=spec.num_frames,
                frame_rate=spec.frame_rate, seed=spec.seed, downscale=spec.reference_downscale_factor,
                prompt=spec.prompt, negative_prompt=spec.negative_prompt,
                num_inference_steps=spec.num_inference_steps, distilled=spec.distilled,
                guidance_scale=spec.guidance_scale, attention_strength=spec.attention_strength, attention_mask=mask,
                lora_scale=1.0,  # per-adapter weights are set above
                max_sequence_length=spec.max_sequence_length, callback=callback,
                temporal=spec.reference_temporal_scale_factor, reference_audio=voice,
                reference_audio_placement=spec.reference_audio_placement,
            )

        output, sound = run_pass()
        baseline, baseline_sound = None, None
        if with_baseline:
            # Same seed, same reference and settings, only the IC-LoRA switched off (an effect LoRA stays on).
            if EFFECT in names:
                pipe.set_adapters([EFFECT], [spec.effect_scale])
            elif names:
                pipe.disable_lora()
            baseline, baseline_sound = run_pass()
    except torch.cuda.OutOfMemoryError as error:
        raise InferenceError(
            "The GPU ran out of memory. Try fewer frames, a smaller size, or ask the operator for 8-bit weights."
        ) from error
    finally:
        if names:
            pipe.enable_lora()
            pipe.unload_lora_weights()
    rate = int(getattr(getattr(pipe, "vocoder", None), "config", {}).get("output_sampling_rate", 0) or 0)
    return GenerationResult(output=output, baseline=baseline, seconds=time.monotonic() - started, audio=sound,
                            baseline_audio=baseline_sound, audio_sample_rate=rate)
