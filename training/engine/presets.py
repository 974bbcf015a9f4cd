"""Model presets: a tiny random LTX-2 for CPUs and tests, and the real LTX-2.3 from operator paths.

Both presets end up as one `LTX2InContextPipeline` loaded by `load_pipeline`, so the trainer never knows which
one it runs on. The tiny model is built from the same diffusers classes as the real one (real 32x spatial / 8x
temporal VAE compression, LTX-2.3-style gated attention and per-modality text projections), only narrower.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

TINY = "tiny"
LTX_2_3 = "ltx-2.3"
PRESETS = (TINY, LTX_2_3)

# Width of the tiny transformer. ~1.6 M parameters: the design note measured that ~1-2 M learn to use the
# reference on CPU in seconds while ~45 k do not.
TINY_HEADS, TINY_HEAD_DIM, TINY_LAYERS = 4, 32, 4
TINY_LATENT_CHANNELS = 32
TINY_TEXT_WIDTH, TINY_TEXT_LAYERS = 32, 2


def pick_device_and_dtype(device: str | None = None) -> tuple[torch.device, torch.dtype]:
    """The one place that decides where and in which precision models run: CUDA bf16, else CPU fp32.

    bf16 brings no speed on CPU and hurts exactness (resume tests, tiny-model learning), hence fp32 there.
    """
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)


def _tiny_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
    # Character-level BPE (no merges) with byte fallback: any caption tokenises without a trained vocabulary.
    chars = ["\u2581"] + [chr(c) for c in range(33, 127)]
    bytes_ = [f"<0x{b:02X}>" for b in range(256)]
    vocab = {tok: i for i, tok in enumerate(specials + bytes_ + chars)}
    tok = GemmaTokenizer(vocab=vocab, merges=[])
    tok.model_max_length = 1024
    return tok


def _tiny_text_encoder(vocab_size: int) -> Any:
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    config = Gemma3Config(
        text_config={
            "vocab_size": vocab_size,
            "hidden_size": TINY_TEXT_WIDTH,
            "intermediate_size": 64,
            "num_hidden_layers": TINY_TEXT_LAYERS,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "sliding_window": 64,
            "max_position_embeddings": 2048,
        },
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


def _tiny_components(seed: int) -> dict[str, Any]:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2 import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    inner = TINY_HEADS * TINY_HEAD_DIM
    audio_heads, audio_head_dim = 2, 8
    audio_inner = audio_heads * audio_head_dim

    torch.manual_seed(seed)
    tokenizer = _tiny_tokenizer()
    text_encoder = _tiny_text_encoder(len(tokenizer))

    torch.manual_seed(seed + 1)
    connectors = LTX2TextConnectors(
        caption_channels=TINY_TEXT_WIDTH,
        text_proj_in_factor=TINY_TEXT_LAYERS + 1,  # all hidden states incl. the embeddings are stacked
        video_connector_num_attention_heads=TINY_HEADS,
        video_connector_attention_head_dim=TINY_HEAD_DIM,
        video_connector_num_layers=1,
        video_connector_num_learnable_registers=None,
        audio_connector_num_attention_heads=audio_heads,
        audio_connector_attention_head_dim=audio_head_dim,
        audio_connector_num_layers=1,
        audio_connector_num_learnable_registers=None,
        connector_rope_base_seq_len=32,
        rope_type="split",
        per_modality_projections=True,  # LTX-2.3 layout
        video_hidden_dim=inner,
        audio_hidden_dim=audio_inner,
    )

    torch.manual_seed(seed + 2)
    transformer = LTX2VideoTransformer3DModel(
        in_channels=TINY_LATENT_CHANNELS,
        out_channels=TINY_LATENT_CHANNELS,
        num_attention_heads=TINY_HEADS,
        attention_head_dim=TINY_HEAD_DIM,
        cross_attention_dim=inner,
        audio_in_channels=4,
        audio_out_channels=4,
        audio_num_attention_heads=audio_heads,
        audio_attention_head_dim=audio_head_dim,
        audio_cross_attention_dim=audio_inner,  # must divide by 2 x video heads (cross-modal RoPE)
        num_layers=TINY_LAYERS,
        caption_channels=TINY_TEXT_WIDTH,
        gated_attn=True,
        cross_attn_mod=True,
        audio_gated_attn=True,
        audio_cross_attn_mod=True,
        use_prompt_embeddings=False,  # LTX-2.3: the connectors project text per modality
        rope_type="split",
    )

    torch.manual_seed(seed + 3)
    vae = AutoencoderKLLTX2Video(
        latent_channels=TINY_LATENT_CHANNELS,
        block_out_channels=(16, 32, 32, 32),
        decoder_block_out_channels=(16, 32, 64),  # each stage halves channels as it upsamples
        layers_per_block=(1, 1, 1, 1, 1),
        decoder_layers_per_block=(1, 1, 1, 1),
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

    torch.manual_seed(seed + 4)
    audio_vae: Any = AutoencoderKLLTX2Audio(
        base_channels=4,
        output_channels=2,
        ch_mult=(1,),
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
    )
    torch.manual_seed(seed + 5)
    vocoder = LTX2Vocoder(
        in_channels=audio_vae.config.output_channels * audio_vae.config.mel_bins,
        hidden_channels=32,
        out_channels=2,
        upsample_kernel_sizes=[4, 4],
        upsample_factors=[2, 2],
        resnet_kernel_sizes=[3],
        resnet_dilations=[[1, 3, 5]],
        leaky_relu_negative_slope=0.1,
        output_sampling_rate=16000,
    )
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


def build_tiny_model(out_dir: str | Path, seed: int = 0, calibration_videos: torch.Tensor | None = None) -> Path:
    """Build the tiny random LTX-2 pipeline deterministically and save it with `save_pretrained`.

    The folder loads with `LTX2InContextPipeline.from_pretrained(out_dir)` (and with `load_pipeline`).
    `calibration_videos` (B, 3, F, H, W) in [-1, 1] overrides the built-in synthetic calibration clips.
    """
    from diffusers import LTX2InContextPipeline

    out = Path(out_dir)
    components = _tiny_components(seed)
    videos = calibration_videos if calibration_videos is not None else _calibration_videos(seed)
    calibrate_vae_statistics(components["vae"], videos)
    pipe: Any = LTX2InContextPipeline(**components)
    pipe.save_pretrained(out)
    params = sum(p.numel() for p in components["transformer"].parameters())
    (out / "iclora_preset.json").write_text(json.dumps({"preset": TINY, "seed": seed, "transformer_params": params}))
    return out


@dataclass(frozen=True)
class ModelPaths:
    """Where the weights of a model live on this machine (operator-configured for the real model).

    Either `pipeline_dir` (a diffusers-format folder with every component), or single-file checkpoints:
    `transformer_file` (+ optional `vae_file`, `audio_vae_file`, `vocoder_file`) on top of `pipeline_dir`
    holding the remaining components and configs, with `text_encoder_dir` for the Gemma folder when it is
    stored elsewhere.
    """

    pipeline_dir: Path
    transformer_file: Path | None = None
    text_encoder_dir: Path | None = None
    vae_file: Path | None = None
    name: str = "custom"


def resolve_model(preset_or_paths: str | Path | ModelPaths) -> ModelPaths:
    """Turn a preset name, a folder path, or explicit `ModelPaths` into `ModelPaths`.

    `tiny` resolves to `$ICLORA_TINY_MODEL_DIR` (built on first use, under `~/.cache/iclora/tiny` by default);
    `ltx-2.3` to `$ICLORA_LTX23_DIR` (+ `$ICLORA_LTX23_TRANSFORMER`, `$ICLORA_LTX23_TEXT_ENCODER`), which the
    operator sets: the real weights cannot be downloaded here.
    """
    import os

    if isinstance(preset_or_paths, ModelPaths):
        return preset_or_paths
    key = str(preset_or_paths)
    if key == TINY:
        root = Path(os.environ.get("ICLORA_TINY_MODEL_DIR", Path.home() / ".cache" / "iclora" / "tiny"))
        if not (root / "model_index.json").exists():
            build_tiny_model(root)
        return ModelPaths(pipeline_dir=root, name=TINY)
    if key == LTX_2_3:
        base = os.environ.get("ICLORA_LTX23_DIR")
        if not base:
            raise FileNotFoundError(
                "The ltx-2.3 preset needs the operator to set ICLORA_LTX23_DIR to a diffusers-format LTX-2.3 "
                "folder (optionally ICLORA_LTX23_TRANSFORMER for a single-file dev checkpoint and "
                "ICLORA_LTX23_TEXT_ENCODER for the Gemma folder)."
            )
        te = os.environ.get("ICLORA_LTX23_TEXT_ENCODER")
        tf = os.environ.get("ICLORA_LTX23_TRANSFORMER")
        return ModelPaths(
            pipeline_dir=Path(base),
            transformer_file=Path(tf) if tf else None,
            text_encoder_dir=Path(te) if te else None,
            name=LTX_2_3,
        )
    path = Path(key)
    if (path / "model_index.json").exists():
        return ModelPaths(pipeline_dir=path, name=_preset_name(path))
    raise FileNotFoundError(f"{key!r} is neither a preset ({', '.join(PRESETS)}) nor a diffusers pipeline folder")


def _preset_name(path: Path) -> str:
    marker = path / "iclora_preset.json"
    if marker.exists():
        return str(json.loads(marker.read_text()).get("preset", "custom"))
    return "custom"


def load_pipeline(
    preset_or_paths: str | Path | ModelPaths,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    with_text_encoder: bool = True,
) -> Any:
    """Load an `LTX2InContextPipeline` for the tiny model and for the real one, through one code path.

    `with_text_encoder=False` leaves Gemma out (training uses cached text embeddings; the 12B encoder need not
    be in memory). Returns the pipeline on `device` in `dtype` (default: `pick_device_and_dtype`).
    """
    from diffusers import LTX2InContextPipeline, LTX2VideoTransformer3DModel

    paths = resolve_model(preset_or_paths)
    dev, default_dtype = pick_device_and_dtype(device)
    dtype = dtype or default_dtype
    overrides: dict[str, Any] = {}
    if paths.transformer_file is not None:
        overrides["transformer"] = LTX2VideoTransformer3DModel.from_single_file(
            str(paths.transformer_file), config=str(paths.pipeline_dir), subfolder="transformer", torch_dtype=dtype
        )
    if paths.vae_file is not None:
        from diffusers import AutoencoderKLLTX2Video

        overrides["vae"] = AutoencoderKLLTX2Video.from_single_file(
            str(paths.vae_file), config=str(paths.pipeline_dir), subfolder="vae", torch_dtype=dtype
        )
    if not with_text_encoder:
        overrides["text_encoder"] = None
    elif paths.text_encoder_dir is not None:
        from transformers import AutoModelForImageTextToText

        overrides["text_encoder"] = AutoModelForImageTextToText.from_pretrained(
            str(paths.text_encoder_dir), dtype=dtype
        )
    pipe = LTX2InContextPipeline.from_pretrained(str(paths.pipeline_dir), dtype=dtype, **overrides)
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    pipe.iclora_model_name = paths.name
    return pipe


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def latent_shape(pipe: Any, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """Latent (frames, height, width) of a pixel clip, using the pipeline's own compression ratios."""
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    return (frames - 1) // t + 1, math.ceil(height / s), math.ceil(width / s)
