"""The demo model: a small LTX-2 of the real diffusers classes that makes real pictures on a CPU.

The random `tiny` model decodes anything to colour static; the demo model is the same pipeline with a video VAE
that works (a thumbnail codec built into the real LTX-2 VAE architecture, see `construct_vae`), latent statistics
measured on real footage, and a transformer *trained* as a text-to-video generator with the engine's own step
(`train.build_step_inputs`, flow matching, the audio stream denoised alongside as `LTX2InContextPipeline`
generates). It keeps LTX's 32x spatial / 8x temporal compression and 128 latent channels, so every rule of the real
model (8n+1 frames, multiples of 32) holds.

    python -m training build-demo-model DIR      # resumable: run it again to continue; seeded

Phases; the encoded clips and the transformer's progress are kept under DIR/.build/, so an interrupted build
continues where it stopped:
  1. vae          AutoencoderKLLTX2Video set up as a YUV thumbnail codec (`construct_vae`: luma at 1/8, chroma at
                  1/16 of the resolution, 4 samples a latent frame in time); no random weight left
  2. statistics   per-channel latents_mean / latents_std from the training footage at the demo bucket
  3. latents      the pretraining clips at the demo bucket, encoded once (the expensive encoding, cached)
  4. transformer  flow matching on those latents, text-to-video (no reference tokens), audio alongside
  5. save         `save_pretrained`: the folder loads with `LTX2InContextPipeline.from_pretrained(DIR)`

Training footage (`demo_footage/`, licences in its README): three short clips and thirteen photographs turned into
moving footage by a camera that pans and zooms over them, plus procedurally drawn scenes. None of the clips that
tests score against (`carphone_*`, the tests' generated pairs) is among them; they measure the VAE on unseen footage.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .buckets import Bucket
from .dataset import CachedPair, encode_caption
from .media import conform, probe
from .tiny_model import (
    build_connectors,
    build_transformer,
    build_video_vae,
    calibrate_audio_statistics,
    tiny_components,
)
from .train import build_step_inputs, sample_sigmas, silent_audio, step_loss

DEMO = "demo"
FOOTAGE = Path(__file__).with_name("demo_footage")
# The demo's default bucket: 8x5 latent tokens a frame, 4 latent frames (1 s at 24 fps).
DEMO_BUCKET = Bucket(256, 160, 25, 24.0)
DEMO_LATENT_CHANNELS = 128
DEMO_HEADS, DEMO_HEAD_DIM, DEMO_LAYERS = 8, 24, 6

# What each shipped clip shows: the pretraining captions (the text encoder is small and random, so the captions
# only need to tell the sources apart, consistently).
CLIP_CAPTIONS = {
    "bigbuckbunny.mp4": "a cartoon rabbit in a green meadow",
    "bikes.mp4": "cyclists riding along a city street",
    "city.mp4": "a city skyline under the sky",
}
PHOTO_CAPTIONS = {
    "astronaut": "an astronaut in a white suit",
    "chelsea": "a cat looking at the camera",
    "coffee": "a cup of coffee on a table",
    "rocket": "a rocket lifting off",
    "hubble_deep_field": "galaxies in deep space",
    "grass": "green grass",
    "gravel": "grey gravel stones",
    "brick": "a red brick wall",
    "camera": "a man with a camera, black and white",
    "coins": "old coins, black and white",
    "horse": "a horse silhouette",
    "retina": "a photograph of a retina",
    "text": "printed text on paper",
}
SHAPES_CAPTION = "colourful shapes moving over a smooth background"


@dataclass(frozen=True)
class BuildSettings:
    """How long each phase trains; the defaults are what the shipped model was built with."""

    seed: int = 0
    transformer_steps: int = 2000
    transformer_batch: int = 8
    transformer_lr: float = 6e-4
    clips_per_source: int = 12
    checkpoint_every: int = 250


# ---------------------------------------------------------------------------------------------------------
# The components


def demo_vae(seed: int) -> Any:
    """The video VAE with LTX-2's real compression (patch 4, then spatial, temporal and two spatio-temporal stages:
    32x in space, 8x in time, causal encoder) and 128 latent channels, set up by `construct_vae` as a YUV thumbnail
    codec: 3.5 M parameters, none of them random."""
    torch.manual_seed(seed)
    vae = build_video_vae(DEMO_LATENT_CHANNELS, (32, 64, 64, 128), (32, 64, 128), layers_per_block=0)
    construct_vae(vae)
    return vae


# Where the codec's values sit. Encoder convs are causal (temporal tap 2 is the current frame), decoder convs are not
# (tap 1); only centre taps are used, so padding never matters.
_ENC, _DEC = (2, 1, 1), (1, 1, 1)
_LUMA = (0.299, 0.587, 0.114)
# A constant channel of this size makes each PerChannelRMSNorm on the main path divide by (nearly) a constant and
# keeps SiLU in its linear range (error ~ 2/_K), so the whole codec is linear to within 0.2%.
_K = 1000.0


@torch.no_grad()
def construct_vae(vae: Any) -> None:
    """Set every weight of `demo_vae`'s architecture so that it encodes a clip as a thumbnail and decodes it back.

    Why not train it: on this CPU budget the LTX-2 VAE trained from random weights stayed at the quality of a flat
    grey guess for 500+ steps (the per-location RMS norms on its main path discard the scale of the signal, and
    with narrow layers it learns very slowly); measured in the build notes, docs/training.md.

    The latent of each 32x32x8 block holds, for each of its eight 16x16x4 sub-blocks: luma (Y) on a 2x2 grid
    (latent channels 16-47: sub-block offset + 8 x position) and the sub-block's mean chroma U = B - Y and V = R - Y
    (channels 48-63); the rest are 0. That is luma at 1/8 and chroma at 1/16 of the resolution, four samples in time
    per latent frame. The downsamplers' own residual paths do the averaging; their convolutions pick channels and
    cancel what the residuals would add where a value must pass unchanged. The decoder copies each value to every
    pixel it covers (nearest neighbour) and turns Y, U, V back into R, G, B.
    """
    for parameter in vae.parameters():
        parameter.zero_()
    enc, dec = vae.encoder, vae.decoder
    # Patchify gives channel c*16 + (4x4 position): conv_in writes each colour's patch mean into 4 channels, which
    # the first (spatial) downsampler's residual averages: R, G, B at 1/8 in channels 0-2; the temporal one keeps
    # both frames of each pair (channels colour*2 + parity).
    for colour in range(3):
        enc.conv_in.conv.weight[4 * colour : 4 * colour + 4, 16 * colour : 16 * colour + 16, *_ENC] = 1 / 16
    # Spatio-temporal 1: conv channels 5-7 carry R, G, B (pair-averaged) to each of the 8 sub-positions: 40 + 8c + o.
    stage3 = enc.down_blocks[2].downsamplers[0].conv.conv
    for colour in range(3):
        stage3.weight[5 + colour, [2 * colour, 2 * colour + 1], *_ENC] = 0.5
    # Spatio-temporal 2: conv channel 2 + 2h + w = luma at (h, w), 6 = U, 7 = V; channel 1 is the constant.
    stage4 = enc.down_blocks[3].downsamplers[0].conv.conv
    for offset in range(8):
        h, w = (offset // 2) % 2, offset % 2
        for colour in range(3):
            source = 40 + 8 * colour + offset
            stage4.weight[2 + 2 * h + w, source, *_ENC] += 0.5 * _LUMA[colour]
            stage4.weight[6, source, *_ENC] += ((colour == 2) - _LUMA[colour]) / 8
            stage4.weight[7, source, *_ENC] += ((colour == 0) - _LUMA[colour]) / 8
    stage4.bias[1] = _K
    # norm_out divides by about _K / 4 and SiLU halves small values: conv_out multiplies back by _K / 2.
    for channel in range(16, 64):
        enc.conv_out.conv.weight[channel, channel, *_ENC] = _K / 2
    enc.conv_out.conv.bias[DEMO_LATENT_CHANNELS] = -10.0  # log-variance: a sharp posterior
    # Decoder: conv_in lays the latent out as (value j, sub-block offset): j = Y00, Y01, Y10, Y11, U, V, constant.
    for j in range(6):
        for offset in range(8):
            dec.conv_in.conv.weight[8 * j + offset, 8 * (2 + j) + offset, *_DEC] = 1.0
    dec.conv_in.conv.bias[48:56] = _K
    # Each upsampler: its conv first cancels the residual (a depth-to-space copy of its input), then writes what
    # each sub-position should hold.
    for level, up_block in enumerate(dec.up_blocks):
        conv = up_block.upsamplers[0].conv.conv
        groups = conv.in_channels // 8
        for out_channel in range(conv.out_channels // 8):
            for offset in range(8):
                conv.weight[8 * out_channel + offset, 8 * (out_channel % groups) + offset, *_DEC] -= 1.0
                if level == 0 and out_channel < 7:  # split the latent: value j of sub-block `offset`
                    conv.weight[8 * out_channel + offset, 8 * out_channel + offset, *_DEC] += 1.0
                elif level == 1 and out_channel < 4:  # Y of this quarter, then U, V, constant
                    h, w = (offset // 2) % 2, offset % 2
                    source = 2 * h + w if out_channel == 0 else out_channel + 3
                    conv.weight[8 * out_channel + offset, source, *_DEC] += 1.0
                elif level == 2 and out_channel < 4:  # Y, U, V, constant to every sub-position
                    conv.weight[8 * out_channel + offset, out_channel, *_DEC] += 1.0
    # conv_out: channel c*16 + position for every pixel of the 4x4 patch; R = Y + V, G = Y - 0.194 U - 0.509 V,
    # B = Y + U (from the luma weights above).
    to_rgb = ((1.0, 0.0, 1.0), (1.0, -_LUMA[2] / _LUMA[1], -_LUMA[0] / _LUMA[1]), (1.0, 1.0, 0.0))
    for colour, coefficients in enumerate(to_rgb):
        for source, coefficient in enumerate(coefficients):
            dec.conv_out.conv.weight[16 * colour : 16 * colour + 16, source, *_DEC] = coefficient * _K / 2


def demo_components(seed: int) -> dict[str, Any]:
    """Every pipeline component, untrained: the tiny model's text side, audio VAE and vocoder, with the demo's
    wider transformer and its trainable VAE."""
    components = tiny_components(seed)
    torch.manual_seed(seed + 10)
    components["transformer"] = build_transformer(DEMO_LATENT_CHANNELS, DEMO_HEADS, DEMO_HEAD_DIM, DEMO_LAYERS)
    torch.manual_seed(seed + 11)
    components["connectors"] = build_connectors(DEMO_HEADS, DEMO_HEAD_DIM)
    components["vae"] = demo_vae(seed)
    return components


# ---------------------------------------------------------------------------------------------------------
# Footage: every sampler returns video in [-1, 1] shaped (3, T, H, W)


class Footage:
    """The shipped clips (decoded once, 192 px high) and photographs, and the procedural scenes."""

    def __init__(self, folder: Path = FOOTAGE) -> None:
        self.folder = folder
        self.clips: dict[str, torch.Tensor] = {}  # name -> (T, 3, H, W) uint8
        for name in CLIP_CAPTIONS:
            info = probe(folder / name)
            height = 192
            width = round(info.width * height / info.height / 32) * 32
            frames = conform(folder / name, info.fps, width, height, info.frames)
            self.clips[name] = torch.from_numpy(np.array(frames)).permute(0, 3, 1, 2).contiguous()
        self.photos: dict[str, torch.Tensor] = {}  # name -> (3, H, W) float in [-1, 1]
        for name in PHOTO_CAPTIONS:
            self.photos[name] = _read_photo(folder / f"{name}.jpg")

    def clip_window(
        self, gen: torch.Generator, frames: int, height: int, width: int, name: str | None = None
    ) -> torch.Tensor:
        """A window of a shipped clip (stride 1 or 2), scaled to cover the shape (up to 1.3x more), randomly
        cropped, maybe mirrored."""
        names = list(self.clips)
        name = name or names[_randint(gen, len(names))]
        clip = self.clips[name]
        stride = 1 + _randint(gen, 2)
        span = (frames - 1) * stride + 1
        if span > clip.shape[0]:
            stride, span = 1, frames
        start = _randint(gen, clip.shape[0] - span + 1)
        video = clip[start : start + span : stride].float() / 127.5 - 1  # (T, 3, H, W)
        scale = max(height / video.shape[2], width / video.shape[3]) * (1 + 0.3 * _uniform(gen))
        scale = max(scale, height / video.shape[2] + 1e-3, width / video.shape[3] + 1e-3)
        video = F.interpolate(video, scale_factor=scale, mode="bilinear", antialias=True, align_corners=False)
        top = _randint(gen, video.shape[2] - height + 1)
        left = _randint(gen, video.shape[3] - width + 1)
        video = video[:, :, top : top + height, left : left + width]
        if _uniform(gen) < 0.5:
            video = video.flip(-1)
        return video.permute(1, 0, 2, 3).clamp(-1, 1)

    def photo_pan(
        self, gen: torch.Generator, frames: int, height: int, width: int, name: str | None = None
    ) -> torch.Tensor:
        """A camera moving over a photograph: a crop window that drifts and zooms smoothly, resampled bilinearly."""
        names = list(self.photos)
        name = name or names[_randint(gen, len(names))]
        photo = self.photos[name]
        _, ph, pw = photo.shape
        aspect = width / height
        # Window size in photo pixels at the start and end (zoom), as a fraction of the largest that fits.
        largest = min(ph, pw / aspect)
        sizes = [largest * (0.25 + 0.75 * _uniform(gen)) for _ in range(2)]
        centres = []
        for size in sizes:
            half_w, half_h = size * aspect / 2, size / 2
            centres.append((half_w + _uniform(gen) * (pw - 2 * half_w), half_h + _uniform(gen) * (ph - 2 * half_h)))
        t = torch.linspace(0, 1, frames)
        t = t * t * (3 - 2 * t) if _uniform(gen) < 0.5 else t  # eased or constant speed
        window = sizes[0] + (sizes[1] - sizes[0]) * t
        cx = centres[0][0] + (centres[1][0] - centres[0][0]) * t
        cy = centres[0][1] + (centres[1][1] - centres[0][1]) * t
        # affine_grid maps output [-1, 1] to input [-1, 1]: scale = window / photo, shift = centre in those units.
        theta = torch.zeros(frames, 2, 3)
        theta[:, 0, 0] = window * aspect / pw
        theta[:, 1, 1] = window / ph
        theta[:, 0, 2] = cx / pw * 2 - 1
        theta[:, 1, 2] = cy / ph * 2 - 1
        grid = F.affine_grid(theta, [frames, 3, height, width], align_corners=False)
        video = F.grid_sample(photo.expand(frames, -1, -1, -1), grid, mode="bilinear", align_corners=False)
        return video.permute(1, 0, 2, 3).clamp(-1, 1)


def _read_photo(path: Path) -> torch.Tensor:
    with Image.open(path) as image:
        pixels = np.array(image.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 127.5 - 1


def _uniform(gen: torch.Generator) -> float:
    return float(torch.rand((), generator=gen))


def _randint(gen: torch.Generator, n: int) -> int:
    return int(torch.randint(max(n, 1), (), generator=gen))


def shapes_scene(gen: torch.Generator, frames: int, height: int, width: int) -> torch.Tensor:
    """A drawn scene: a smooth two-colour background and 1-5 discs and boxes (some striped) moving in straight
    lines, occluding one another."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1 * width / height, width), indexing="ij")
    c1, c2 = torch.rand(3, generator=gen) * 2 - 1, torch.rand(3, generator=gen) * 2 - 1
    angle = _uniform(gen) * math.tau
    ramp = (xx * math.cos(angle) + yy * math.sin(angle)) / (1 + width / height)
    ramp = (ramp - ramp.min()) / (ramp.max() - ramp.min() + 1e-6)
    background = c1.view(3, 1, 1) * (1 - ramp) + c2.view(3, 1, 1) * ramp
    video = background.unsqueeze(1).repeat(1, frames, 1, 1)  # (3, T, H, W)
    for _ in range(1 + _randint(gen, 5)):
        colour = torch.rand(3, generator=gen) * 2 - 1
        radius = 0.08 + 0.25 * _uniform(gen)
        x0, y0 = _uniform(gen) * width / height, _uniform(gen)
        vx, vy = (_uniform(gen) - 0.5) * 0.04, (_uniform(gen) - 0.5) * 0.04
        disc = _uniform(gen) < 0.5
        stripes = _uniform(gen) < 0.3
        period = 0.03 + 0.05 * _uniform(gen)
        for t in range(frames):
            dx, dy = xx - (x0 + vx * t), yy - (y0 + vy * t)
            inside = (dx**2 + dy**2 < radius**2) if disc else ((dx.abs() < radius) & (dy.abs() < radius * 0.7))
            fill = colour.view(3, 1, 1).expand(3, height, width)
            if stripes:
                fill = fill * (0.6 + 0.4 * torch.sign(torch.sin((dx + dy) / period)))
            video[:, t] = torch.where(inside, fill, video[:, t])
    return video.clamp(-1, 1)


# ---------------------------------------------------------------------------------------------------------
# Phase 1: the VAE


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two videos in [-1, 1] (measured on [0, 1] pixels)."""
    mse = float(((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).mean())
    return 10 * math.log10(1.0 / max(mse, 1e-12))


@torch.no_grad()
def reconstruct(vae: Any, video: torch.Tensor) -> torch.Tensor:
    """Encode with the distribution's mode (as training does) and decode: (B, 3, T, H, W) -> same."""
    return vae.decode(vae.encode(video).latent_dist.mode()).sample.clamp(-1, 1)


def _schedule(step: int, total: int) -> float:
    """Learning-rate factor: 100 steps of warm-up, constant, then a linear decay to 0.1 over the last 10%, so a
    build stopped early (and continued later) spends no steps at a needlessly small rate."""
    warmup = min(1.0, (step + 1) / 100)
    decay_start = 0.9 * total
    decay = 1.0 if step < decay_start else 1.0 - 0.9 * (step - decay_start) / max(total - decay_start, 1)
    return warmup * decay


def _resume(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer) -> int:
    if not path.exists():
        return 0
    state = torch.load(path, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    return int(state["step"])


def _save_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": step}, tmp)
    tmp.replace(path)  # a build killed while saving keeps the previous checkpoint


# ---------------------------------------------------------------------------------------------------------
# Phases 2 and 3: latent statistics and the pretraining clips


def pretraining_clips(
    footage: Footage, settings: BuildSettings, bucket: Bucket = DEMO_BUCKET
) -> list[tuple[torch.Tensor, str]]:
    """(video (3, F, H, W) in [-1, 1], caption) at the bucket's shape: windows of every clip, pans over every
    photo and drawn scenes, `clips_per_source` of each, seeded."""
    gen = torch.Generator().manual_seed(settings.seed + 77)
    args = (bucket.frames, bucket.height, bucket.width)
    out = []
    for name, caption in CLIP_CAPTIONS.items():
        out += [(footage.clip_window(gen, *args, name=name), caption) for _ in range(settings.clips_per_source * 2)]
    for name, caption in PHOTO_CAPTIONS.items():
        out += [(footage.photo_pan(gen, *args, name=name), caption) for _ in range(settings.clips_per_source)]
    out += [(shapes_scene(gen, *args), SHAPES_CAPTION) for _ in range(settings.clips_per_source * 3)]
    return out


@torch.no_grad()
def measure_statistics(vae: Any, videos: list[torch.Tensor]) -> None:
    """Set the VAE's per-channel `latents_mean` / `latents_std` from the mode latents of `videos` (3, F, H, W)."""
    latents = torch.cat([vae.encode(v.unsqueeze(0)).latent_dist.mode() for v in videos])  # (N, C, f, h, w)
    flat = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    vae.latents_mean.copy_(flat.mean(dim=1))
    vae.latents_std.copy_(flat.std(dim=1).clamp_min(1e-4))


# ---------------------------------------------------------------------------------------------------------
# Phase 4: the transformer, as a text-to-video generator


def train_transformer(
    pipe: Any, pairs: list[Any], settings: BuildSettings, state_path: Path, log: Callable[[str], None],
    until: int | None = None,
) -> None:
    """Flow-matching pretraining of `pipe.transformer` on cached pairs whose reference has no frames, with the
    engine's step (`build_step_inputs`, `step_loss`); first-frame conditioning on 20% of samples (LTX's
    image-to-video training) teaches it to use clean tokens at timestep 0. Audio (silence) is denoised alongside.
    Resumes from `state_path` and checkpoints there; `until` stops at that step, as an interrupted build would."""
    transformer = pipe.transformer
    params = [p for p in transformer.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.transformer_lr, weight_decay=0.01)
    start = _resume(state_path, transformer, opt)
    transformer.train()
    bucket = pairs[0].bucket
    c, f, h, w = pairs[0].target_latents.shape
    b = settings.transformer_batch
    begun, running = time.monotonic(), 0.0
    for step in range(start, min(settings.transformer_steps, until or settings.transformer_steps)):
        gen = torch.Generator().manual_seed(settings.seed * 1_000_033 + step)
        batch = [pairs[_randint(gen, len(pairs))] for _ in range(b)]
        sigmas = sample_sigmas(b, f * h * w, 0.1, gen)
        noise = torch.randn(b, f * h * w, c, generator=gen)
        first = torch.rand(b, generator=gen) < 0.2
        audio = silent_audio(pipe, bucket, b, gen)
        inputs = build_step_inputs(pipe, batch, sigmas, noise, first, bucket.fps, 1, audio=audio)
        lr = settings.transformer_lr * _schedule(step, settings.transformer_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        loss = step_loss(pipe, inputs, audio_weight=0.1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        running = 0.98 * running + 0.02 * loss.item() if step > start else loss.item()
        if (step + 1) % 50 == 0:
            rate = (step + 1 - start) / (time.monotonic() - begun)
            log(f"transformer step {step + 1}/{settings.transformer_steps} loss {running:.4f} ({rate:.2f} steps/s)")
        if (step + 1) % settings.checkpoint_every == 0 or step + 1 == settings.transformer_steps:
            _save_state(state_path, transformer, opt, step + 1)
    transformer.eval()


# ---------------------------------------------------------------------------------------------------------
# The build


def build_demo_model(
    out_dir: str | Path, settings: BuildSettings | None = None, log: Callable[[str], None] = print
) -> Path:
    """Build (or continue building) the demo model into `out_dir`; returns the folder, loadable with
    `LTX2InContextPipeline.from_pretrained(out_dir)` and with `load_pipeline(out_dir)`."""
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import LTX2InContextPipeline

    settings = settings or BuildSettings()
    out = Path(out_dir)
    work = out / ".build"
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(settings.seed)
    components = demo_components(settings.seed)
    pipe: Any = LTX2InContextPipeline(**components)
    pipe.set_progress_bar_config(disable=True)
    calibrate_audio_statistics(pipe)
    footage = Footage()

    log(f"[1/5] VAE: a thumbnail codec ({sum(p.numel() for p in pipe.vae.parameters()) / 1e6:.1f} M parameters, "
        "set by construct_vae)")

    log("[2/5] latent statistics and [3/5] pretraining clips")
    latents_file = work / "latents.safetensors"
    if not latents_file.exists():
        clips = pretraining_clips(footage, settings)
        measure_statistics(pipe.vae, [v for v, _ in clips])
        with torch.no_grad():
            latents = torch.cat([pipe.vae.encode(v.unsqueeze(0)).latent_dist.mode() for v, _ in clips])
        captions = [c for _, c in clips]
        save_file(
            {"latents": latents.contiguous(), "mean": pipe.vae.latents_mean, "std": pipe.vae.latents_std},
            str(latents_file),
            metadata={"captions": json.dumps(captions)},
        )
    with safe_open(str(latents_file), "pt") as handle:
        captions = json.loads(handle.metadata()["captions"])
    saved = load_file(str(latents_file))
    pipe.vae.latents_mean.copy_(saved["mean"])
    pipe.vae.latents_std.copy_(saved["std"])
    embeds = {caption: encode_caption(pipe, caption, 128) for caption in sorted(set(captions))}
    c, _, h, w = saved["latents"].shape[1:]
    no_reference = torch.zeros(c, 0, h, w)
    pairs = [
        CachedPair(target_latents=lat, reference_latents=no_reference, caption=cap, bucket=DEMO_BUCKET,
                   video_prompt_embeds=embeds[cap]["video_prompt_embeds"],
                   audio_prompt_embeds=embeds[cap]["audio_prompt_embeds"],
                   prompt_attention_mask=embeds[cap]["prompt_attention_mask"])
        for lat, cap in zip(saved["latents"], captions, strict=True)
    ]
    log(f"[4/5] transformer ({sum(p.numel() for p in pipe.transformer.parameters()) / 1e6:.1f} M parameters) "
        f"on {len(pairs)} clips")
    train_transformer(pipe, pairs, settings, work / "transformer.pt", log)

    log("[5/5] saving")
    pipe.save_pretrained(out)
    marker = {
        "preset": DEMO,
        "seed": settings.seed,
        "settings": settings.__dict__,
        "bucket": DEMO_BUCKET.label(),
        "transformer_params": sum(p.numel() for p in pipe.transformer.parameters()),
        "vae_params": sum(p.numel() for p in pipe.vae.parameters()),
    }
    (out / "iclora_preset.json").write_text(json.dumps(marker, indent=1))
    return out


def replace_audio_codec(out_dir: str | Path, seed: int = 0) -> None:
    """Write the audio VAE and vocoder `build_demo_model` makes for `seed` into an existing demo folder.

    They are untrained and nothing else in the folder depends on them (the transformer was pretrained with the
    silent audio regime, whose tokens do not pass through the audio VAE), so a folder built before the tiny model's
    audio codec could encode sound gets the current one without a rebuild of the rest.
    """
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import LTX2InContextPipeline

    out = Path(out_dir)
    pipe: Any = LTX2InContextPipeline.from_pretrained(out)
    fresh = tiny_components(seed)
    pipe.register_modules(audio_vae=fresh["audio_vae"], vocoder=fresh["vocoder"])
    calibrate_audio_statistics(pipe)
    pipe.audio_vae.save_pretrained(out / "audio_vae")
    pipe.vocoder.save_pretrained(out / "vocoder")


def video_from_frames(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames (F, H, W, 3) -> (1, 3, F, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(frames)).permute(3, 0, 1, 2).unsqueeze(0).float() / 127.5 - 1
