"""Validation samples during training, and `generate` for a bucket, both with the pipeline call of `inference`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .audio import encode_voice
from .buckets import Bucket, assign_bucket
from .dataset import Pair
from .inference import call_pipeline_av
from .loader import encoding_name, ensure_text_encoder
from .media import VideoInfo, add_sound, conform, probe, write_mp4


def generate(pipe: Any, reference: np.ndarray, bucket: Bucket, downscale: int = 1, **kwargs: Any) -> np.ndarray:
    """One video (F, H, W, 3) float in [0, 1] at `bucket` from a conformed reference ((F-1)/S+1, H/d, W/d, 3) uint8
    (S = `temporal`): `generate_av` (same keyword arguments) without its sound."""
    return generate_av(pipe, reference, bucket, downscale, **kwargs)[0]


@torch.no_grad()
def generate_av(
    pipe: Any,
    reference: np.ndarray,
    bucket: Bucket,
    downscale: int = 1,
    prompt: str | None = None,
    prompt_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
    negative_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
    num_inference_steps: int = 20,
    guidance_scale: float = 1.0,
    seed: int = 0,
    lora_scale: float = 1.0,
    max_sequence_length: int = 1024,
    temporal: int = 1,
    voice: torch.Tensor | None = None,
    voice_placement: str = "before",
) -> tuple[np.ndarray, np.ndarray]:
    """One video (F, H, W, 3) float in [0, 1] and its sound (channels, samples) at the vocoder's rate, with the
    Studio's pipeline call (`inference.call_pipeline_av`) and the transformer in eval mode meanwhile. `voice` (Ca, Lr,
    Ma) is a reference voice's raw latents (`audio.encode_voice`) for an adapter trained with one."""
    was_training = pipe.transformer.training
    pipe.transformer.eval()
    try:
        return call_pipeline_av(
            pipe, reference, height=bucket.height, width=bucket.width, num_frames=bucket.frames, frame_rate=bucket.fps,
            seed=seed, downscale=downscale, prompt=prompt, prompt_embeds=prompt_embeds, negative_embeds=negative_embeds,
            num_inference_steps=num_inference_steps, guidance_scale=guidance_scale, lora_scale=lora_scale,
            max_sequence_length=max_sequence_length, temporal=temporal, reference_audio=voice,
            reference_audio_placement=voice_placement,
        )
    finally:
        pipe.transformer.train(was_training)


def reference_frames(path: str | Path, bucket: Bucket, temporal: int = 1) -> int:
    """Frames a reference is conformed to: the bucket's (every `temporal`-th), or one for a still image (identity
    adapters)."""
    return 1 if probe(path).frames == 1 else bucket.reference_frames(temporal)


def validation_bucket(info: VideoInfo, buckets: list[Bucket]) -> tuple[Bucket, str]:
    """The bucket a sample is made at: the one its reference would train in (a still: by aspect ratio alone), else
    the first bucket when the clip is too short for every bucket. Returns the bucket and why, for the log."""
    frames = None if info.frames == 1 else info.frames
    assignment = assign_bucket(info.width, info.height, frames, info.fps, buckets)
    if assignment is None:
        return buckets[0], "the first bucket: the reference is too short for every bucket"
    return assignment.bucket, assignment.reason


@dataclass
class ValidationItem:
    """A prompt (already encoded, so the text encoder can be freed) and a reference conformed to `bucket`."""

    name: str
    reference: np.ndarray
    embeds: tuple[torch.Tensor, torch.Tensor]
    negative: tuple[torch.Tensor, torch.Tensor] | None
    bucket: Bucket
    voice: torch.Tensor | None = None  # (Ca, Lr, Ma) the sample's reference voice, for an adapter trained with one


@torch.no_grad()
def encode_prompt_cached(
    pipe: Any, prompt: str, cache_dir: Path, negative: bool, max_sequence_length: int
) -> dict[str, torch.Tensor]:
    """`pipe.encode_prompt`'s output for a validation prompt, kept on disk so a resumed run needs no Gemma.

    Returns `pos` (1, L, D) and `pos_mask` (1, L), plus `neg` and `neg_mask` when `negative` (CFG); on the VAE's
    device and dtype, as the pipeline would have made them.
    """
    key = hashlib.sha256(
        "|".join([prompt, encoding_name(pipe), str(negative), str(max_sequence_length)]).encode()
    ).hexdigest()[:16]
    path = cache_dir / f"prompt_{key}.safetensors"
    if not path.exists():
        device = ensure_text_encoder(pipe).device
        pos, pos_mask, neg, neg_mask = pipe.encode_prompt(
            prompt, do_classifier_free_guidance=negative, max_sequence_length=max_sequence_length, device=device
        )
        tensors = {"pos": pos, "pos_mask": pos_mask} | ({"neg": neg, "neg_mask": neg_mask} if negative else {})
        cache_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous().cpu() for k, v in tensors.items()}, str(path), metadata={"prompt": prompt})
    device, dtype = pipe.vae.device, pipe.vae.dtype
    return {k: v.to(device, dtype) if v.is_floating_point() else v.to(device) for k, v in load_file(str(path)).items()}


@dataclass
class ValidationSet:
    items: list[ValidationItem] = field(default_factory=list)
    downscale: int = 1
    steps: int = 20
    guidance: float = 1.0
    seed: int = 0
    max_sequence_length: int = 1024
    temporal: int = 1
    with_sound: bool = False  # the adapter learned sound (diffusion.audio "clip"): samples carry theirs
    voice_placement: str = "before"

    @classmethod
    @torch.no_grad()
    def build(cls, pipe: Any, cfg: Any, pairs: list[Pair], log: Callable[[str], None] | None = None) -> ValidationSet:
        """Validation inputs from the config; else the held-out pairs; else the first pair (the user still sees
        what the adapter does). Each sample is made at its reference's bucket (`validation_bucket`). Prompts are
        encoded now, while the text encoder is loaded; so are the voices of an adapter trained with a reference voice
        (`validation.reference_audios`, else the pairs')."""
        v, d = cfg.validation, cfg.data.reference_downscale_factor
        voices: list[Path | None]
        if v.reference_videos:
            sources = list(zip(v.prompts, v.reference_videos, strict=True))
            voices = list(v.reference_audios) or [None] * len(sources)
        else:
            chosen = [pairs[i] for i in cfg.data.validation_indices] or pairs[:1]
            sources = [(p.caption, p.reference) for p in chosen]
            voices = [p.reference_audio for p in chosen]
        if not cfg.data.reference_audio:
            voices = [None] * len(sources)
        items = []
        for i, ((prompt, ref_path), voice_path) in enumerate(zip(sources, voices, strict=True)):
            prompt = f"{cfg.data.trigger} {prompt}".strip() if cfg.data.trigger else prompt
            info = probe(ref_path)
            bucket, why = validation_bucket(info, cfg.buckets)
            if log is not None and len(cfg.buckets) > 1:
                log(f"sample {i:02d}: bucket {bucket.label()} ({why})")
            s = cfg.data.reference_temporal_scale_factor
            frames = 1 if info.frames == 1 else bucket.reference_frames(s)
            ref = conform(ref_path, bucket.fps / s, bucket.width // d, bucket.height // d, frames)
            embeds = encode_prompt_cached(
                pipe, prompt, Path(cfg.cache_dir) / "prompts", v.guidance_scale > 1.0, cfg.data.max_sequence_length
            )
            negative = (embeds["neg"], embeds["neg_mask"]) if "neg" in embeds else None
            voice = None
            if voice_path is not None:
                voice = encode_voice(pipe, voice_path, cfg.data.reference_audio_min_seconds,
                                     cfg.data.reference_audio_max_seconds)
            items.append(ValidationItem(f"{i:02d}", ref, (embeds["pos"], embeds["pos_mask"]), negative, bucket, voice))
        return cls(items, d, v.num_inference_steps, v.guidance_scale, v.seed, cfg.data.max_sequence_length,
                   cfg.data.reference_temporal_scale_factor, with_sound=cfg.diffusion.audio == "clip",
                   voice_placement=cfg.data.reference_audio_placement)

    def render(self, pipe: Any, step: int, out_dir: Path,
               on_item: Callable[[int, int], None] | None = None) -> list[Path]:
        """Write one mp4 per item as `step_000250_00.mp4`, each at its item's bucket, and return the paths.
        `on_item(i, n)` is called before the i-th of the n samples (1-based) is made."""
        files = []
        for number, item in enumerate(self.items, start=1):
            if on_item is not None:
                on_item(number, len(self.items))
            video, sound = generate_av(
                pipe,
                item.reference,
                item.bucket,
                self.downscale,
                prompt_embeds=item.embeds,
                negative_embeds=item.negative,
                num_inference_steps=self.steps,
                guidance_scale=self.guidance,
                seed=self.seed,
                max_sequence_length=self.max_sequence_length,
                temporal=self.temporal,
                voice=item.voice,
                voice_placement=self.voice_placement,
            )
            path = write_mp4(video, out_dir / f"step_{step:06d}_{item.name}.mp4", item.bucket.fps)
            if self.with_sound and sound.size:
                add_sound(path, sound, int(pipe.vocoder.config.output_sampling_rate))
            files.append(path)
        return files
