"""IC-LoRA training on diffusers' LTX-2, top to bottom.

One step, per sample (design note section 2):
  x0 = normalised target latents, r = normalised reference latents, both as tokens in (frame, h, w) order
  sigma ~ shifted logit-normal (10% uniform);  x_t = (1 - sigma) x0 + sigma eps;  velocity target = eps - x0
  transformer input = [x_t | r], timesteps [sigma*1000 ... | 0 ...] (reference is clean), positions from
  `rope.prepare_video_coords` with the reference's h/w scaled by the downscale factor d (both on one grid)
  optional first-frame conditioning: the first latent frame of the target stays clean, timestep 0, no loss
  one dummy audio token with isolate_modalities=True (video-only training), or the audio stream denoised alongside
  at the same sigma from silence or from the clip's own sound (`diffusion.audio`), optionally followed by a reference
  voice's clean audio tokens (timestep 0, no loss; `data.reference_audio`)
  loss = MSE(prediction on target tokens, eps - x0) (+ audio_weight x the audio stream's MSE on the clip's sound)
These are exactly the tensors `LTX2InContextPipeline` gives the transformer at inference; a test checks it.

Buckets: each pair is cached at the shape of its bucket (dataset.prepare). A step's pairs all come from one
bucket (`draw_batch`), so with several buckets the latent grid (f, h, w) changes from step to step, never within
a batch; positions and fps follow the step's bucket.

The public entry point is `train(config, hooks)`.
"""

from __future__ import annotations

import math
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from .audio import ReferenceAudioPlacement, pack_audio, reference_audio_coords
from .checkpoint import check_resume, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .dataset import AudioCaching, CachedPair, Pair, PairReport, load_cache, prepare, read_manifest
from .export import export_adapter
from .inference import spread_reference_time
from .loader import attach_transformer, load_pipeline, load_transformer, pick_device_and_dtype, release_text_encoder
from .lora import add_lora, quantize_int8
from .sample import ValidationSet

# ---------------------------------------------------------------------------------------------------------
# The training step


CHECKPOINT_EXPORT = "export.safetensors"  # the adapter of a checkpoint, as a creator downloads it


def sigma_shift(num_tokens: int) -> float:
    """Logit-normal mean: 0.95 at 1024 target tokens rising linearly to 2.05 at 4096 (ltx-trainer's line,
    not clamped), so longer/larger clips train at higher noise where their global structure is decided."""
    slope = (2.05 - 0.95) / (4096 - 1024)
    return 0.95 + slope * (num_tokens - 1024)


def sample_sigmas(batch: int, num_tokens: int, uniform_fraction: float, gen: torch.Generator) -> torch.Tensor:
    """Sigmas (batch,) in (0, 1]: shifted logit-normal stretched between its 0.5% and 99.9% points, with a
    `uniform_fraction` share of uniform draws so no noise level goes untrained."""
    eps = 1e-3
    mu = sigma_shift(num_tokens)
    logit_normal = torch.sigmoid(torch.randn(batch, generator=gen) + mu)
    lo, hi = torch.sigmoid(torch.tensor(mu - 2.5758)), torch.sigmoid(torch.tensor(mu + 3.0902))
    stretched = (logit_normal - lo) / (hi - lo)
    stretched = torch.where(stretched >= eps, stretched, 2 * eps - stretched).clamp(0, 1)
    uniform = (1 - eps) * torch.rand(batch, generator=gen) + eps
    use_uniform = torch.rand(batch, generator=gen) < uniform_fraction
    return torch.where(use_uniform, uniform, stretched)


@dataclass
class StepInputs:
    """Everything one transformer call needs, plus what the loss compares against.

    `model_kwargs` are the keyword arguments of `LTX2VideoTransformer3DModel.forward`; `velocity` (B, T, C) is
    the training target on the T target tokens and `loss_mask` (B, T) is 0 on clean first-frame tokens.
    """

    model_kwargs: dict[str, Any]
    velocity: torch.Tensor
    loss_mask: torch.Tensor
    num_target_tokens: int
    audio_velocity: torch.Tensor | None = None  # (B, A, Ca) when the audio stream is denoised alongside


def pack(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """(B, C, f, h, w) -> tokens (B, f*h*w, C), the pipeline's own packing."""
    return pipe._pack_latents(latents, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)


def normalize(pipe: Any, latents: torch.Tensor) -> torch.Tensor:
    """Raw VAE latents (B, C, f, h, w) -> normalised with the VAE's per-channel statistics."""
    vae = pipe.vae
    return pipe._normalize_latents(latents, vae.latents_mean, vae.latents_std, vae.config.scaling_factor)


def build_step_inputs(
    pipe: Any,
    batch: list[CachedPair],
    sigmas: torch.Tensor,
    noise: torch.Tensor,
    first_frame_clean: torch.Tensor,
    fps: float,
    downscale: int,
    audio: tuple[torch.Tensor, torch.Tensor] | None = None,
    temporal: int = 1,
    reference_audio: torch.Tensor | None = None,
    reference_audio_placement: ReferenceAudioPlacement = "before",
) -> StepInputs:
    """Assemble the IC-LoRA transformer input for a batch of cached pairs.

    sigmas (B,), noise (B, T, C) for the T target tokens, first_frame_clean (B,) bool.
    Reference tokens are appended after the target tokens, as `LTX2InContextPipeline` does; a pair whose reference
    has no frames (C, 0, h, w) gives plain text-to-video inputs (the demo model's pretraining).
    `audio` = (clean packed audio latents, noise), both (B, A, Ca): the audio stream is noised at the same sigma and
    denoised alongside with `isolate_modalities=False`, as the pipeline generates; None keeps one zero audio token
    cut off from the video (video-only training). `temporal` is the reference temporal scale factor S: the cached
    reference was made at fps / S, and its time positions are spread as Lightricks' ltx-core places them
    (`inference.spread_reference_time`, as `pipeline.ICLoRAPipeline` does at inference).
    `reference_audio` (B, Ra, Ca), normalised packed tokens of a reference voice (`batch_reference_audio`), is
    appended after the A audio tokens, clean: audio timestep 0 (the audio timestep becomes per token, (B, A + Ra)),
    out of the loss, positioned by `audio.reference_audio_coords` with `reference_audio_placement`, as
    `pipeline.ICLoRAPipeline` appends it at inference. It needs `audio`.
    """
    if reference_audio is not None and audio is None:
        raise ValueError("reference audio joins the audio stream, which video-only training cuts off: use the clip "
                         "audio regime")
    transformer = pipe.transformer
    device, dtype = transformer.device, transformer.dtype
    b = len(batch)
    target = torch.stack([p.target_latents for p in batch]).to(device)  # (B, C, f, h, w)
    ref = torch.stack([p.reference_latents for p in batch]).to(device)  # (B, C, f, h/d, w/d)
    _, _, f, h, w = target.shape
    _, _, rf, rh, rw = ref.shape

    x0 = pack(pipe, normalize(pipe, target.float()))  # (B, T, C)
    text_to_video = rf == 0  # no reference frames: plain generation (the demo model's pretraining)
    r = x0[:, :0] if text_to_video else pack(pipe, normalize(pipe, ref.float()))  # (B, R, C)
    num_target = x0.shape[1]

    # Conditioning mask over target tokens: 1 = kept clean. First latent frame = first h*w tokens.
    cond = torch.zeros(b, num_target, 1, device=device)
    cond[first_frame_clean.to(device), : h * w] = 1.0
    noise_level = (1.0 - cond) * sigmas.to(device).view(b, 1, 1)  # (B, T, 1)
    noise = noise.to(device)
    x_t = noise * noise_level + x0 * (1 - noise_level)  # same expression as the pipeline's prepare_latents
    velocity = noise - x0

    # Per-token timesteps: sigma*1000 on noisy target tokens, 0 on clean first-frame and on all reference tokens.
    t = sigmas.to(device) * 1000.0  # (B,)
    full_cond = torch.cat([cond, torch.ones(b, r.shape[1], 1, device=device)], dim=1)
    video_timestep = t.unsqueeze(-1) * (1 - full_cond.squeeze(-1))  # (B, T + R)

    # Positions: each video on its own latent grid; the reference's h/w scaled by d onto the target's grid.
    rope = transformer.rope
    target_coords = rope.prepare_video_coords(b, f, h, w, device, fps=fps)  # (B, 3, T, 2)
    if text_to_video:
        ref_coords = target_coords[:1, :, :0]
    else:
        ref_coords = rope.prepare_video_coords(1, rf, rh, rw, device, fps=fps)  # (1, 3, R, 2)
    if downscale != 1:
        ref_coords[:, 1, :, :] = ref_coords[:, 1, :, :] * downscale
        ref_coords[:, 2, :, :] = ref_coords[:, 2, :, :] * downscale
    if temporal != 1 and not text_to_video:
        ref_coords = spread_reference_time(ref_coords, temporal, fps)
    video_coords = torch.cat([target_coords, ref_coords.expand(b, -1, -1, -1)], dim=2)

    audio_velocity = None
    audio_timestep = t
    if audio is None:
        # Video-only: one zero audio token, cut off from the video stream by isolate_modalities=True.
        audio_tokens = torch.zeros(b, 1, transformer.config.audio_in_channels, device=device, dtype=dtype)
    else:
        audio_x0, audio_noise = (a.to(device) for a in audio)
        audio_sigma = sigmas.to(device).view(b, 1, 1)
        audio_tokens = (audio_noise * audio_sigma + audio_x0 * (1 - audio_sigma)).to(dtype)
        audio_velocity = audio_noise - audio_x0
    audio_frames = audio_tokens.shape[1]
    audio_coords = transformer.audio_rope.prepare_audio_coords(b, audio_frames, device)
    if reference_audio is not None:
        voice = reference_audio.to(device)
        audio_tokens = torch.cat([audio_tokens, voice.to(dtype)], dim=1)
        clean_voice = torch.zeros(b, voice.shape[1], device=device)
        audio_timestep = torch.cat([t.unsqueeze(-1).expand(b, audio_frames), clean_voice], dim=1)  # (B, A + Ra)
        voice_coords = reference_audio_coords(transformer, b, voice.shape[1], reference_audio_placement, device)
        audio_coords = torch.cat([audio_coords, voice_coords], dim=2)

    text = torch.stack([p.video_prompt_embeds for p in batch]).to(device, dtype)
    audio_text = torch.stack([p.audio_prompt_embeds for p in batch]).to(device, dtype)
    text_mask = torch.stack([p.prompt_attention_mask for p in batch]).to(device)

    model_kwargs = {
        "hidden_states": torch.cat([x_t, r], dim=1).to(dtype),
        "audio_hidden_states": audio_tokens,
        "encoder_hidden_states": text,
        "audio_encoder_hidden_states": audio_text,
        "timestep": video_timestep,
        "audio_timestep": audio_timestep,
        "sigma": t,
        "audio_sigma": t,
        "encoder_attention_mask": text_mask,
        "audio_encoder_attention_mask": text_mask,
        "num_frames": f,
        "height": h,
        "width": w,
        "fps": fps,
        "audio_num_frames": audio_tokens.shape[1],
        "video_coords": video_coords,
        "audio_coords": audio_coords,
        "isolate_modalities": audio is None,
        "use_cross_timestep": True,
        "return_dict": False,
    }
    loss_mask = (1.0 - cond.squeeze(-1)).to(device)
    return StepInputs(model_kwargs, velocity, loss_mask, num_target, audio_velocity)


def masked_mse(pred: torch.Tensor, velocity: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over target tokens whose mask is 1 (pred, velocity (B, T, C); mask (B, T))."""
    per_token = ((pred.float() - velocity.float()) ** 2).mean(dim=-1)
    return (per_token * mask).sum() / mask.sum().clamp_min(1.0)


def step_losses(pipe: Any, inputs: StepInputs) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the transformer on the step inputs: (video loss on target tokens, audio loss on the clip's audio tokens or
    None when the audio stream is not denoised). Reference tokens of either stream are never in a loss."""
    pred, audio_pred = pipe.transformer(**inputs.model_kwargs)
    video = masked_mse(pred[:, : inputs.num_target_tokens], inputs.velocity, inputs.loss_mask)
    if inputs.audio_velocity is None:
        return video, None
    clip_tokens = inputs.audio_velocity.shape[1]  # a reference voice's tokens follow them
    return video, ((audio_pred[:, :clip_tokens].float() - inputs.audio_velocity.float()) ** 2).mean()


def step_loss(pipe: Any, inputs: StepInputs, audio_weight: float = 1.0) -> torch.Tensor:
    """Run the transformer on the step inputs and return the target-only loss (plus `audio_weight` times the audio
    stream's loss when audio is denoised alongside)."""
    video, audio = step_losses(pipe, inputs)
    if audio is not None and audio_weight:
        return video + audio_weight * audio
    return video


def audio_token_shape(pipe: Any, bucket: Any) -> tuple[int, int]:
    """(A, Ca): how many packed audio tokens `LTX2InContextPipeline` denoises for a clip of the bucket's length."""
    per_second = pipe.audio_sampling_rate / pipe.audio_hop_length / float(pipe.audio_vae_temporal_compression_ratio)
    return round(bucket.frames / bucket.fps * per_second), pipe.transformer.config.audio_in_channels


def silent_audio(pipe: Any, bucket: Any, batch: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, noise) packed audio latents (B, A, Ca) for the "silence" regime: zeros, and noise drawn from `gen`."""
    tokens, channels = audio_token_shape(pipe, bucket)
    return torch.zeros(batch, tokens, channels), torch.randn(batch, tokens, channels, generator=gen)


def clip_audio(pipe: Any, batch: list[CachedPair], gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(clean, noise) packed audio latents (B, A, Ca) for the "clip" regime: the clips' own sound, normalised as the
    pipeline normalises given audio latents, and noise drawn from `gen`."""
    if any(p.audio_latents is None for p in batch):
        raise ValueError("a training clip has no cached sound: prepare the data with the clip audio regime")
    clean = pack_audio(pipe, torch.stack([p.audio_latents for p in batch if p.audio_latents is not None]).float())
    return clean, torch.randn(clean.shape, generator=gen)


def batch_reference_audio(pipe: Any, batch: list[CachedPair]) -> torch.Tensor:
    """The batch's reference voices as normalised packed tokens (B, Ra, Ca). Voices differ in length, so a batch of
    several keeps the first Ra latent frames of each, Ra the shortest's (a batch of one keeps its whole voice)."""
    voices = [p.reference_audio_latents for p in batch]
    if any(v is None for v in voices):
        raise ValueError("a training clip has no cached reference voice: prepare the data with reference audio")
    shortest = min(v.shape[1] for v in voices if v is not None)
    return pack_audio(pipe, torch.stack([v[:, :shortest] for v in voices if v is not None]).float())


def audio_for_step(
    pipe: Any, batch: list[CachedPair], regime: str, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The step's audio stream (clean, noise) in the `regime` (diffusion.audio): None when it is isolated."""
    if regime == "silence":
        return silent_audio(pipe, batch[0].bucket, len(batch), gen)
    if regime == "clip":
        return clip_audio(pipe, batch, gen)
    return None


def draw_batch(pairs: list[CachedPair], batch_size: int, gen: torch.Generator) -> list[CachedPair]:
    """The step's pairs, drawn with `gen`. The first is drawn uniformly over all training pairs, so each bucket
    is trained in proportion to its pairs; the others come from the first one's bucket, so the batch stacks into
    one tensor. With one bucket and batch 1 this is the plain uniform draw."""
    first = pairs[int(torch.randint(len(pairs), (1,), generator=gen))]
    if batch_size == 1:
        return [first]
    same = [p for p in pairs if p.bucket == first.bucket]
    rest = torch.randint(len(same), (batch_size - 1,), generator=gen).tolist()
    return [first, *(same[i] for i in rest)]


def draw_step(pipe: Any, pairs: list[CachedPair], cfg: TrainConfig, gen: torch.Generator) -> StepInputs:
    """Random pairs, sigmas, noise and first-frame coin for one step, all from `gen` (saved in checkpoints, so a
    resumed run draws exactly what the uninterrupted run would have). Noise is (B, f*h*w, C) for the bucket's
    latent grid (f, h, w), which changes from step to step when there are several buckets."""
    b = cfg.optim.batch_size
    batch = draw_batch(pairs, b, gen)
    c, f, h, w = batch[0].target_latents.shape
    num_tokens = f * h * w
    sigmas = sample_sigmas(b, num_tokens, cfg.diffusion.uniform_sigma_fraction, gen)
    noise = torch.randn(b, num_tokens, c, generator=gen)
    clean_first = torch.rand(b, generator=gen) < cfg.diffusion.first_frame_conditioning_p
    audio = audio_for_step(pipe, batch, cfg.diffusion.audio, gen)
    voice = batch_reference_audio(pipe, batch) if cfg.data.reference_audio else None
    return build_step_inputs(
        pipe, batch, sigmas, noise, clean_first, batch[0].bucket.fps, cfg.data.reference_downscale_factor, audio,
        cfg.data.reference_temporal_scale_factor, voice, cfg.data.reference_audio_placement,
    )


EVAL_SIGMAS = (0.15, 0.3, 0.45, 0.6, 0.75, 0.9)


def swap_partner(pair: CachedPair, pairs: list[CachedPair]) -> CachedPair:
    """The next pair after `pair` in its bucket that comes from another clip (manifest row), wrapping around."""
    same = [p for p in pairs if p.bucket == pair.bucket]
    position = next(i for i, p in enumerate(same) if p is pair)
    for step in range(1, len(same)):
        other = same[(position + step) % len(same)]
        if other.row != pair.row or pair.row < 0:
            return other
    raise ValueError(f"Swapping references needs held-out pairs from at least two clips in the bucket "
                     f"{pair.bucket.label()}: every held-out pair there is a window of manifest row {pair.row}.")


@torch.no_grad()
def evaluate(
    pipe: Any, pairs: list[CachedPair], downscale: int, swap_references: bool = False, seed: int = 1234,
    audio: str = "isolated", temporal: int = 1, reference_audio: bool = False,
    reference_audio_placement: ReferenceAudioPlacement = "before", swap_reference_audio: bool = False,
    audio_weight: float = 1.0, measure: str = "total",
) -> float:
    """Deterministic eval loss in the `audio` regime (the run's diffusion.audio): every pair at fixed sigmas with
    fixed noise, no first-frame conditioning, each at its own bucket's shape and fps.

    `swap_references=True` gives each pair the reference of the next pair in its bucket (same shape) that comes from
    another clip (another manifest row: a window of the same long clip would lend nearly the same reference): if the
    adapter uses the reference, the loss must be clearly higher then. `swap_reference_audio=True` does the same with
    the reference voice (`reference_audio`: the pairs' voices join the audio stream). `measure` is "total" (video
    + audio_weight x audio, the training loss), "video" or "audio" (the audio stream's loss alone).
    """
    gen = torch.Generator().manual_seed(seed)
    losses = []
    was_training = pipe.transformer.training
    pipe.transformer.eval()
    for pair in pairs:
        if swap_references or swap_reference_audio:
            other = swap_partner(pair, pairs)
            swapped: dict[str, torch.Tensor | None] = (
                {"reference_latents": other.reference_latents} if swap_references else {})
            if swap_reference_audio:
                swapped["reference_audio_latents"] = other.reference_audio_latents
            pair = CachedPair(**{**pair.__dict__, **swapped})
        c, f, h, w = pair.target_latents.shape
        voice = batch_reference_audio(pipe, [pair]) if reference_audio else None
        for sigma in EVAL_SIGMAS:
            noise = torch.randn(1, f * h * w, c, generator=gen)
            sound = audio_for_step(pipe, [pair], audio, gen)
            inputs = build_step_inputs(
                pipe, [pair], torch.tensor([sigma]), noise, torch.tensor([False]), pair.bucket.fps, downscale, sound,
                temporal, voice, reference_audio_placement,
            )
            video_loss, audio_loss = step_losses(pipe, inputs)
            if measure == "audio":
                if audio_loss is None:
                    raise ValueError("no audio loss: the audio stream is not denoised in the isolated regime")
                losses.append(audio_loss.item())
            elif measure == "video" or audio_loss is None or not audio_weight:
                losses.append(video_loss.item())
            else:
                losses.append((video_loss + audio_weight * audio_loss).item())
    pipe.transformer.train(was_training)
    return sum(losses) / len(losses)


# ---------------------------------------------------------------------------------------------------------
# Hooks for the workers


@dataclass
class Progress:
    """One progress report. `eta_s` and `steps_per_s` count training steps only (no model load, no sampling)."""

    step: int
    total: int
    loss: float
    lr: float
    steps_per_s: float
    eta_s: float
    peak_memory_mb: float


def _never() -> bool:
    return False


# The stages `on_stage` reports, besides the training steps themselves (`on_progress`).
PREPARING = "preparing"  # conforming, encoding and caching the training clips: (clip i, of n)
LOADING = "loading"  # the clips are ready; the sample prompts are encoded and the model made ready to train
SAMPLING = "sampling"  # validation: the eval loss, then (sample i, of n); (0, n) while the eval loss is measured


@dataclass
class TrainingHooks:
    """Callbacks a worker passes to `train`. The flag functions are polled after every step and must be cheap.

    on_progress(Progress) after every step; should_cancel() stops after the current step (a checkpoint is saved,
    nothing is exported); should_save() saves a checkpoint now; should_sample() writes validation samples now;
    on_checkpoint(step, path) and on_sample(step, [mp4 paths]) report what was written; on_log(message) gets
    human-readable lines (preparation report, eval losses); on_stage(stage, i, n) says what happens outside the
    steps (PREPARING clip i of n, LOADING, SAMPLING sample i of n), so a page can show every stage with its own
    progress.
    """

    on_progress: Callable[[Progress], None] | None = None
    should_cancel: Callable[[], bool] = _never
    should_save: Callable[[], bool] = _never
    should_sample: Callable[[], bool] = _never
    on_checkpoint: Callable[[int, Path], None] | None = None
    on_sample: Callable[[int, list[Path]], None] | None = None
    on_log: Callable[[str], None] | None = None
    on_stage: Callable[[str, int, int], None] | None = None

    def log(self, message: str) -> None:
        if self.on_log is not None:
            self.on_log(message)

    def stage(self, stage: str, done: int = 0, total: int = 0) -> None:
        if self.on_stage is not None:
            self.on_stage(stage, done, total)


@dataclass
class TrainResult:
    """What `train` did: `status` is "finished" or "cancelled"."""

    status: str
    steps: int
    adapter_path: Path | None
    last_loss: float
    checkpoints: list[Path] = field(default_factory=list)
    samples: list[Path] = field(default_factory=list)
    eval_loss: float | None = None


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory on CUDA; peak resident set size of the process on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def dataset_fingerprint(pairs: list[Pair]) -> list[list[Any]]:
    """What identifies the training data across machines: each pair's caption and its files' names and sizes (a
    worker that fetched the same files elsewhere has other paths and times, never other names, sizes or captions)."""
    def file(path: Any) -> list[Any]:
        path = Path(path)
        return [path.name, path.stat().st_size if path.exists() else None]

    # A reference voice is listed only where there is one, so runs without voices keep their fingerprints.
    return [[pair.caption, *file(pair.video), *file(pair.reference),
             *(file(pair.reference_audio) if pair.reference_audio is not None else [])] for pair in pairs]


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up, then linear decay from 1 to `final_lr_fraction` at the last step."""
    total, warm, final = cfg.optim.steps, cfg.optim.warmup_steps, cfg.optim.final_lr_fraction

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = (step - warm) / max(1, total - warm)
        return 1.0 - (1.0 - final) * min(1.0, progress)

    return factor


# ---------------------------------------------------------------------------------------------------------
# The loop


def load_encoders(cfg: TrainConfig) -> Any:
    """The pipeline without its transformer, on the training device: VAE, connectors, tokenizer.

    Gemma is loaded only if a caption or prompt is not cached yet (`presets.ensure_text_encoder`), so a resumed
    run never loads it. The transformer comes after the text encoder is released (`setup_transformer`): the
    12B encoder and the 22B transformer never share the GPU, which int8 training on a smaller card needs.
    With `quantize: int8` Gemma is quantized too (~11 GB instead of ~23 GB while captions are encoded).
    """
    device, dtype = pick_device_and_dtype(None if cfg.device == "auto" else cfg.device)
    return load_pipeline(cfg.model, device=str(device), dtype=dtype, with_text_encoder=False, with_transformer=False,
                         int8_text_encoder=cfg.quantize == "int8")


def setup_transformer(pipe: Any, cfg: TrainConfig) -> list[torch.nn.Parameter]:
    """Load the transformer into `pipe`, optionally quantize it, attach the LoRA, turn on gradient checkpointing.

    Returns the adapter's trainable parameters.
    """
    transformer = load_transformer(pipe.iclora_paths, pipe.vae.dtype)
    if cfg.quantize == "int8":
        # On the CPU, so the full-precision weights never have to fit on a smaller card.
        quantize_int8(transformer)
    attach_transformer(pipe, transformer)
    params = add_lora(pipe.transformer, cfg.lora.rank, cfg.lora.effective_alpha, cfg.lora.targets, cfg.lora.dropout)
    checkpointing = cfg.gradient_checkpointing
    if checkpointing is True or (checkpointing == "auto" and pipe.transformer.device.type == "cuda"):
        pipe.transformer.enable_gradient_checkpointing()
    return params


def setup_model(cfg: TrainConfig) -> tuple[Any, list[torch.nn.Parameter]]:
    """The whole training pipeline at once (benchmarks and tests that need no data): encoders, then transformer."""
    pipe = load_encoders(cfg)
    return pipe, setup_transformer(pipe, cfg)


def prepare_from_config(
    pipe: Any, cfg: TrainConfig, on_clip: Callable[[int, int], None] | None = None
) -> tuple[list[Pair], list[PairReport]]:
    """Conform and cache the manifest's pairs as `cfg` says (once; later calls reuse the cache)."""
    pairs = read_manifest(cfg.data.manifest)
    reports = prepare(
        pipe, pairs, cfg.buckets, cfg.cache_dir, cfg.data.reference_downscale_factor, cfg.data.trigger,
        cfg.data.max_sequence_length, cfg.data.whole_clips, cfg.data.reference_temporal_scale_factor, on_clip,
        audio_caching(cfg),
    )
    return pairs, reports


def audio_caching(cfg: TrainConfig) -> AudioCaching | None:
    """What sound the run needs cached: None (no sound) unless it trains the clips' sound or a reference voice."""
    d = cfg.data
    if cfg.diffusion.audio != "clip" and not d.reference_audio:
        return None
    return AudioCaching(clip=cfg.diffusion.audio == "clip", reference=d.reference_audio,
                        min_seconds=d.reference_audio_min_seconds, max_seconds=d.reference_audio_max_seconds)


def train(cfg: TrainConfig, hooks: TrainingHooks | None = None) -> TrainResult:
    """Prepare the data (cached), train the adapter, checkpoint, sample, export. Resumable.

    Blocking; call it from a worker process. Returns a `TrainResult`; raises `PairError`/`MediaError` for
    unusable data and `ValueError` for an impossible configuration before any training happens.
    """
    hooks = hooks or TrainingHooks()
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(_dump_yaml(cfg))
    torch.manual_seed(cfg.seed)

    # 1. Conform and cache every pair once, in its bucket; hold out the validation rows. Only the encoders are
    # loaded for this; the text encoder is released before the transformer comes in.
    pipe = load_encoders(cfg)
    device = pipe.vae.device
    pairs, train_pairs, eval_pairs = _load_data(pipe, cfg, hooks)
    hooks.stage(LOADING)
    validation = ValidationSet.build(pipe, cfg, pairs, hooks.log)
    if pipe.text_encoder is not None:
        release_text_encoder(pipe)
        hooks.log("captions and sample prompts encoded and cached; text encoder unloaded to free memory for "
                  "training")
    else:
        hooks.log("captions and sample prompts were already encoded (cache): the text encoder was not needed")
    params = setup_transformer(pipe, cfg)

    # 2. Optimizer, schedule, RNG; resume from the newest checkpoint if there is one.
    opt = torch.optim.AdamW(
        params, lr=cfg.optim.learning_rate, betas=cfg.optim.betas, weight_decay=cfg.optim.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    gen = torch.Generator().manual_seed(cfg.seed)
    start = 0
    ckpt_dir = out / "checkpoints"
    settings = {**cfg.resume_settings(), "data.pairs": dataset_fingerprint(pairs)}
    if cfg.checkpoint.resume and (last := latest_checkpoint(ckpt_dir)) is not None:
        check_resume(last, settings, extend=cfg.checkpoint.extend)
        start = load_checkpoint(last, pipe.transformer, opt, sched, gen)
        hooks.log(f"resumed from {last.name} at step {start}")

    result = TrainResult(status="finished", steps=start, adapter_path=None, last_loss=float("nan"))
    pipe.transformer.train()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_time, timed_steps = 0.0, 0

    def checkpoint(step: int) -> None:
        """Save a resumable checkpoint, plus the adapter in ComfyUI form beside it for downloads and trials."""
        path = save_checkpoint(ckpt_dir, step, pipe.transformer, opt, sched, gen, cfg.checkpoint.keep, settings)
        export_adapter(pipe.transformer, path / CHECKPOINT_EXPORT, cfg, steps=step)
        result.checkpoints.append(path)
        if hooks.on_checkpoint is not None:
            hooks.on_checkpoint(step, path)

    # 3. The loop.
    for step in range(start, cfg.optim.steps):
        t0 = time.perf_counter()
        inputs = draw_step(pipe, train_pairs, cfg, gen)
        loss = step_loss(pipe, inputs, cfg.diffusion.audio_weight)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        dt = time.perf_counter() - t0
        if step > start:  # the first step pays one-off costs (allocation, kernel choice)
            train_time, timed_steps = train_time + dt, timed_steps + 1
        done = step + 1
        result.steps, result.last_loss = done, loss.item()

        if hooks.on_progress is not None:
            rate = timed_steps / train_time if train_time > 0 else 1.0 / max(dt, 1e-9)
            hooks.on_progress(
                Progress(
                    done,
                    cfg.optim.steps,
                    result.last_loss,
                    float(sched.get_last_lr()[0]),
                    rate,
                    (cfg.optim.steps - done) / rate,
                    peak_memory_mb(device),
                )
            )

        cancel = hooks.should_cancel()
        if done % cfg.checkpoint.every == 0 or hooks.should_save() or cancel:
            checkpoint(done)
        if cancel:
            result.status = "cancelled"
            return result
        if (
            cfg.validation.every and done % cfg.validation.every == 0 and done < cfg.optim.steps
        ) or hooks.should_sample():
            _validate(pipe, cfg, validation, eval_pairs, done, result, hooks)

    # 4. Final checkpoint, samples and the adapter file.
    if not result.checkpoints or result.checkpoints[-1].name != f"step_{result.steps:06d}":
        checkpoint(result.steps)
    _validate(pipe, cfg, validation, eval_pairs, result.steps, result, hooks)
    result.adapter_path = export_adapter(
        pipe.transformer, out / f"{cfg.export.name}.safetensors", cfg, steps=result.steps
    )
    hooks.log(f"exported {result.adapter_path.name}")
    return result


def _load_data(
    pipe: Any, cfg: TrainConfig, hooks: TrainingHooks
) -> tuple[list[Pair], list[CachedPair], list[CachedPair]]:
    """Prepare (cached) and load the pairs: (manifest pairs, training pairs, held-out pairs), logging per pair what
    conforming does and, with several buckets, which bucket it trains in and why."""
    pairs, reports = prepare_from_config(pipe, cfg, lambda done, total: hooks.stage(PREPARING, done, total))
    several = len(cfg.buckets) > 1
    for r in reports:
        where = f"bucket {r.bucket} ({r.bucket_reason}): " if several else ""
        if r.start:
            continue  # a later window of a long pair: the pair's first line said what happens to it
        hooks.log(f"pair {r.index + 1}: {where}{', '.join(r.actions) or 'used as is'}{' (cached)' if r.cached else ''}")
    if len(reports) > len(pairs):
        hooks.log(f"whole clips: {len(pairs)} pairs give {len(reports)} training clips")
    if several:
        counts = Counter(r.bucket for r in reports)
        hooks.log("buckets: " + ", ".join(f"{b.label()} {counts[b.label()]} pairs" for b in cfg.buckets))
    held_out = set(cfg.data.validation_indices)
    if any(i >= len(pairs) or i < 0 for i in held_out):
        raise ValueError(f"validation_indices {sorted(held_out)} outside the {len(pairs)} pairs of the manifest")
    train_pairs = load_cache(cfg.cache_dir, [i for i in range(len(pairs)) if i not in held_out])
    eval_pairs = load_cache(cfg.cache_dir, sorted(held_out)) if held_out else []
    if not train_pairs:
        raise ValueError("every pair is held out for validation: nothing left to train on")
    return pairs, train_pairs, eval_pairs


def _validate(
    pipe: Any,
    cfg: TrainConfig,
    validation: Any,
    eval_pairs: list[CachedPair],
    step: int,
    result: TrainResult,
    hooks: TrainingHooks,
) -> None:
    hooks.stage(SAMPLING, 0, len(validation.items))
    if eval_pairs:
        result.eval_loss = evaluate(pipe, eval_pairs, cfg.data.reference_downscale_factor, audio=cfg.diffusion.audio,
                                    temporal=cfg.data.reference_temporal_scale_factor,
                                    reference_audio=cfg.data.reference_audio,
                                    reference_audio_placement=cfg.data.reference_audio_placement,
                                    audio_weight=cfg.diffusion.audio_weight)
        hooks.log(f"step {step}: eval loss {result.eval_loss:.4f} on {len(eval_pairs)} held-out pairs "
                  f"({cfg.diffusion.audio} audio regime)")
    files = validation.render(pipe, step, Path(cfg.output_dir) / "samples",
                              lambda done, total: hooks.stage(SAMPLING, done, total))
    result.samples.extend(files)
    if files and hooks.on_sample is not None:
        hooks.on_sample(step, files)


def _dump_yaml(cfg: TrainConfig) -> str:
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


def seconds_to_text(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    m, s = divmod(int(seconds), 60)
    h, m = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
