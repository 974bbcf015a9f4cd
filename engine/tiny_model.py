"""The tiny LTX-2 model: random weights, the real classes, built on this machine for CPUs and tests.

Built from the same diffusers classes as the real model (real 32x spatial / 8x temporal VAE compression, LTX-2.3-style
gated attention and per-modality text projections), only narrower; `build_tiny_model` saves it as a diffusers folder
that `engine.loader.load_pipeline` loads like any other. One per base (`engine.bases`): the LTX-2.5 one has that
base's transformer switches (feed-forward without bias, the keyframe embedding) and a Gemma 4 (`gemma4_unified`)
text encoder. The demo model (`engine.demo_model`) starts from these builders and trains them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .audio import encode_wave
from .bases import LTX23, Base, get_base
from .model_paths import TINY, TINY_LAYOUT

# The audio side of the small models: narrow, and `audio_heads * audio_head_dim` divides by 2 x video heads
# (cross-modal RoPE).
SMALL_AUDIO_HEADS, SMALL_AUDIO_HEAD_DIM = 2, 8

# Width of the tiny transformer. ~1.6 M parameters: the design note measured that ~1-2 M learn to use the
# reference on CPU in seconds while ~45 k do not.
TINY_HEADS, TINY_HEAD_DIM, TINY_LAYERS = 4, 32, 4
TINY_LATENT_CHANNELS = 32
TINY_TEXT_WIDTH, TINY_TEXT_LAYERS = 32, 2


def _tiny_tokenizer() -> Any:
    # transformers (seconds): loaded only when a model is built, not by every module that imports this one
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    # Character-level BPE (no merges) with byte fallback: any caption tokenises without a trained vocabulary.
    chars = ["\u2581"] + [chr(c) for c in range(33, 127)]
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    vocab = {tok: i for i, tok in enumerate(specials + bytes_ + chars)}
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = 1024
    return tok


# The tiny Gemma text stack both encoder families share (Gemma 3 for LTX-2.3, Gemma 4 for LTX-2.5).
TINY_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": TINY_TEXT_WIDTH,
    "intermediate_size": 64,
    "num_hidden_layers": TINY_TEXT_LAYERS,
    "num_attention_heads": 2,
    "num_key_value_heads": 1,
    "head_dim": 16,
    "sliding_window": 64,
    "max_position_embeddings": 2048,
}


def _tiny_gemma3(vocab_size: int) -> Any:
    """A 2-layer Gemma-3 (LTX-2.3's text encoder family) on the tiny width."""
    # transformers (seconds): loaded only when a model is built, not by every module that imports this one
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={**TINY_TEXT_CONFIG, "vocab_size": vocab_size, "query_pre_attn_scalar": 16},
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 8,
            "patch_size": 4,
        },
        mm_tokens_per_image=4,
        boi_token_index=vocab_size - 3,
        eoi_token_index=vocab_size - 2,
        image_token_index=vocab_size - 1,
    )
    return Gemma3ForConditionalGeneration(config).eval()


def _tiny_gemma4(vocab_size: int) -> Any:
    """A 2-layer Gemma 4 unified (LTX-2.5's text encoder family) on the tiny width, text only."""
    # transformers (seconds): loaded only when a model is built, not by every module that imports this one
    from transformers import Gemma4UnifiedConfig, Gemma4UnifiedForConditionalGeneration

    config = Gemma4UnifiedConfig(
        text_config={
            **TINY_TEXT_CONFIG,
            "vocab_size": vocab_size + 8,  # the multimodal tokens lie past the tokenizer's ids: no caption has one
            "global_head_dim": 16,
            "layer_types": ["sliding_attention"] * (TINY_TEXT_LAYERS - 1) + ["full_attention"],
        },
        vision_config=None,
        audio_config=None,
        boi_token_id=vocab_size,
        eoi_token_id=vocab_size + 1,
        image_token_id=vocab_size + 2,
        video_token_id=vocab_size + 3,
        boa_token_id=vocab_size + 4,
        eoa_token_index=vocab_size + 5,
        audio_token_id=vocab_size + 6,
    )
    return Gemma4UnifiedForConditionalGeneration(config).eval()


# One tiny builder per text encoder family a base names (`Base.text_encoder.family`).
TINY_TEXT_ENCODERS = {"gemma3": _tiny_gemma3, "gemma4_unified": _tiny_gemma4}


def build_connectors(heads: int, head_dim: int) -> Any:
    """Text connectors of a small model (LTX-2.3 layout: per-modality projections) on the tiny Gemma's width."""
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers.pipelines.ltx2 import LTX2TextConnectors

    return LTX2TextConnectors(
        caption_channels=TINY_TEXT_WIDTH,
        text_proj_in_factor=TINY_TEXT_LAYERS + 1,  # all hidden states incl. the embeddings are stacked
        video_connector_num_attention_heads=heads,
        video_connector_attention_head_dim=head_dim,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=SMALL_AUDIO_HEADS,
        audio_connector_attention_head_dim=SMALL_AUDIO_HEAD_DIM,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_type="split",
        per_modality_projections=True,  # LTX-2.3 layout
        video_hidden_dim=heads * head_dim,
        audio_hidden_dim=SMALL_AUDIO_HEADS * SMALL_AUDIO_HEAD_DIM,
    )


def build_transformer(latent_channels: int, heads: int, head_dim: int, layers: int, base: Base = LTX23) -> Any:
    """A transformer of `base`'s architecture (gated attention, prompt modulation, and the base's switches) of the
    given width and depth."""
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import LTX2VideoTransformer3DModel

    audio_inner = SMALL_AUDIO_HEADS * SMALL_AUDIO_HEAD_DIM
    return LTX2VideoTransformer3DModel(
        in_channels=latent_channels,
        out_channels=latent_channels,
        num_attention_heads=heads,
        attention_head_dim=head_dim,
        cross_attention_dim=heads * head_dim,
        audio_in_channels=4,
        audio_out_channels=4,
        audio_num_attention_heads=SMALL_AUDIO_HEADS,
        audio_attention_head_dim=SMALL_AUDIO_HEAD_DIM,
        audio_cross_attention_dim=audio_inner,  # must divide by 2 x video heads (cross-modal RoPE)
        num_layers=layers,
        caption_channels=TINY_TEXT_WIDTH,
        gated_attn=True,
        cross_attn_mod=True,
        audio_gated_attn=True,
        audio_cross_attn_mod=True,
        use_prompt_embeddings=False,  # LTX-2.3 and 2.5: the connectors project text per modality
        rope_type="split",
        **base.transformer,
    )


def build_video_vae(
    latent_channels: int,
    block_out_channels: tuple[int, ...],
    decoder_block_out_channels: tuple[int, ...],
    layers_per_block: int,
) -> Any:
    """A video VAE with the real LTX-2 compression: patch 4, then spatial, temporal and two spatio-temporal stages
    (32x in space, 8x in time, causal encoder)."""
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import AutoencoderKLLTX2Video

    return AutoencoderKLLTX2Video(
        latent_channels=latent_channels,
        block_out_channels=block_out_channels,
        decoder_block_out_channels=decoder_block_out_channels,
        layers_per_block=(layers_per_block,) * 5,
        decoder_layers_per_block=(layers_per_block,) * 4,
        spatio_temporal_scaling=(True, True, True, True),
        decoder_spatio_temporal_scaling=(True, True, True),
        decoder_inject_noise=(False, False, False, False),
        downsample_type=("spatial", "temporal", "spatiotemporal", "spatiotemporal"),
        upsample_residual=(True, True, True),
        upsample_factor=(2, 2, 2),
        patch_size=4,
        decoder_causal=False,
        # Passed explicitly: the default formula assumes every block scales both space and time.
        spatial_compression_ratio=32,
        temporal_compression_ratio=8,
    )


def tiny_components(seed: int, base: Base = LTX23) -> dict[str, Any]:
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import AutoencoderKLLTX2Audio, FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(seed)
    tokenizer = _tiny_tokenizer()
    text_encoder = TINY_TEXT_ENCODERS[base.text_encoder.family](len(tokenizer))

    torch.manual_seed(seed + 1)
    connectors = build_connectors(TINY_HEADS, TINY_HEAD_DIM)
    torch.manual_seed(seed + 2)
    transformer = build_transformer(TINY_LATENT_CHANNELS, TINY_HEADS, TINY_HEAD_DIM, TINY_LAYERS, base)
    torch.manual_seed(seed + 3)
    vae = build_video_vae(
        TINY_LATENT_CHANNELS, (16, 32, 32, 32), (16, 32, 64), layers_per_block=1  # each decoder stage halves channels
    )

    # The audio side has LTX-2's layout at tiny widths, so it can encode sound for the transformer as the real one
    # does: 8 mel bins at 16 kHz with hop 160, two causal 2x downsamplings (4x in time and mel bins: 2 channels x 2
    # latent bins = the transformer's 4 audio channels), and a vocoder that upsamples by the hop (10 x 16 = 160).
    torch.manual_seed(seed + 4)
    audio_vae: Any = AutoencoderKLLTX2Audio(
        base_channels=4,
        output_channels=2,
        ch_mult=(1, 2, 4),
        num_res_blocks=1,
        attn_resolutions=None,
        in_channels=2,
        resolution=32,
        latent_channels=2,
        norm_type="pixel",
        causality_axis="height",
        dropout=0.0,
        mid_block_add_attention=False,
        sample_rate=16000,
        mel_hop_length=160,
        is_causal=True,
        mel_bins=8,
    ).eval()
    torch.manual_seed(seed + 5)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins,
        hidden_channels=32,
        out_channels=2,
        upsample_kernel_sizes=[20, 32],
        upsample_factors=[10, 16],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    ).eval()
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True,
        base_shift=0.95,
        max_shift=2.05,
        base_image_seq_len=1024,
        max_image_seq_len=4096,
        shift_terminal=0.1,
    )
    return {
        "scheduler": scheduler,
        "vae": vae,
        "audio_vae": audio_vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "connectors": connectors,
        "transformer": transformer,
        "vocoder": vocoder,
    }


def _calibration_videos(seed: int, n: int = 6, frames: int = 17, size: int = 128) -> torch.Tensor:
    """Smooth, moving, video-like pixels in [-1, 1], shape (n, 3, frames, size, size).

    Random VAE latents of flat noise are not representative; low-frequency colour fields that drift over
    time give latent statistics close to those of camera footage, without needing any files.
    """
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, frames // 4 + 2, 6, 6, generator=g) * 2 - 1
    video = torch.nn.functional.interpolate(coarse, size=(frames, size, size), mode="trilinear")
    return video.clamp(-1, 1)


@torch.no_grad()
def calibrate_vae_statistics(vae: Any, videos: torch.Tensor) -> None:
    """Set `latents_mean`/`latents_std` per channel from encoded videos (B, 3, F, H, W) in [-1, 1].

    Without this a random VAE gives latents whose scale is arbitrary, and normalised reference latents become
    nearly indistinguishable from one another.
    """
    latents = vae.encode(videos).latent_dist.mode()  # (B, C, f, h, w)
    flat = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    vae.latents_mean.copy_(flat.mean(dim=1))
    vae.latents_std.copy_(flat.std(dim=1).clamp_min(1e-4))


# Pitches whose tones set a random audio VAE's latent statistics: low voice to sibilants, within 16 kHz's Nyquist.
_CALIBRATION_TONES_HZ = (220, 440, 880, 1500, 3000, 5000)


@torch.no_grad()
def calibrate_audio_statistics(pipe: Any) -> None:
    """Set the audio VAE's per-channel `latents_mean`/`latents_std` (over the packed C x M channels the transformer
    takes) from one second of tones of several pitches.

    As with the video VAE, a random audio VAE's latents have an arbitrary scale, so normalised voices would be
    nearly indistinguishable from one another without this.
    """
    rate = int(pipe.audio_sampling_rate)
    t = np.arange(rate) / rate
    channels = int(pipe.audio_vae.config.in_channels)
    waves = [np.stack([np.sin(2 * np.pi * hz * t)] * channels).astype(np.float32) * 0.3
             for hz in _CALIBRATION_TONES_HZ]
    latents = torch.stack([encode_wave(pipe, w) for w in waves])  # (n, C, L, M)
    vae = pipe.audio_vae
    packed = pipe._pack_audio_latents(latents).reshape(-1, vae.latents_mean.numel())
    vae.latents_mean.copy_(packed.mean(0))
    vae.latents_std.copy_(packed.std(0).clamp_min(1e-4))


def build_tiny_model(
    out_dir: str | Path, seed: int = 0, calibration_videos: torch.Tensor | None = None, base: str = LTX23.name
) -> Path:
    """Build the tiny random LTX-2 pipeline of `base` (ltx-2.3 or ltx-2.5) deterministically and save it with
    `save_pretrained`.

    The folder loads with `LTX2InContextPipeline.from_pretrained(out_dir)` (and with `load_pipeline`).
    `calibration_videos` (B, 3, F, H, W) in [-1, 1] overrides the built-in synthetic calibration clips.
    """
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import LTX2InContextPipeline

    out = Path(out_dir)
    components = tiny_components(seed, get_base(base))
    videos = calibration_videos if calibration_videos is not None else _calibration_videos(seed)
    calibrate_vae_statistics(components["vae"], videos)
    pipe: Any = LTX2InContextPipeline(**components)
    calibrate_audio_statistics(pipe)
    pipe.save_pretrained(out)
    params = sum(p.numel() for p in components["transformer"].parameters())
    marker = {"preset": TINY, "base": base, "seed": seed, "transformer_params": params, "layout": TINY_LAYOUT}
    (out / "iclora_preset.json").write_text(json.dumps(marker))
    return out
