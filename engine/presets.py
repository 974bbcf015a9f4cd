"""Model presets: a tiny random LTX-2 for CPUs and tests, and the real LTX-2.3 from operator paths.

Both presets end up as one `LTX2InContextPipeline` loaded by `load_pipeline`, so the trainer never knows which
one it runs on. The tiny model is built from the same diffusers classes as the real one (real 32x spatial / 8x
temporal VAE compression, LTX-2.3-style gated attention and per-modality text projections), only narrower.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .model_paths import (
    DEMO,
    ENVIRONMENT,
    LTX_2_3,
    PRESETS,
    TINY,
    ModelPaths,
    ModelPathsError,
    PathNames,
    as_model_paths,
    check_model_paths,
    from_environment,
)

__all__ = ["DEMO", "LTX_2_3", "PRESETS", "TINY", "ModelPaths", "ModelPathsError", "PathNames"]

# The trained demo model shipped with the project (built by `python -m training build-demo-model`).
SHIPPED_DEMO_MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"


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


# The audio side of the small models: narrow, and `audio_heads * audio_head_dim` divides by 2 x video heads
# (cross-modal RoPE).
SMALL_AUDIO_HEADS, SMALL_AUDIO_HEAD_DIM = 2, 8


def build_connectors(heads: int, head_dim: int) -> Any:
    """Text connectors of a small model (LTX-2.3 layout: per-modality projections) on the tiny Gemma's width."""
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


def build_transformer(latent_channels: int, heads: int, head_dim: int, layers: int) -> Any:
    """An LTX-2.3-style transformer (gated attention, prompt modulation) of the given width and depth."""
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
        use_prompt_embeddings=False,  # LTX-2.3: the connectors project text per modality
        rope_type="split",
    )


def build_video_vae(
    latent_channels: int,
    block_out_channels: tuple[int, ...],
    decoder_block_out_channels: tuple[int, ...],
    layers_per_block: int,
) -> Any:
    """A video VAE with the real LTX-2 compression: patch 4, then spatial, temporal and two spatio-temporal stages
    (32x in space, 8x in time, causal encoder)."""
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


def _tiny_components(seed: int) -> dict[str, Any]:
    from diffusers import AutoencoderKLLTX2Audio, FlowMatchEulerDiscreteScheduler
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder

    torch.manual_seed(seed)
    tokenizer = _tiny_tokenizer()
    text_encoder = _tiny_text_encoder(len(tokenizer))

    torch.manual_seed(seed + 1)
    connectors = build_connectors(TINY_HEADS, TINY_HEAD_DIM)
    torch.manual_seed(seed + 2)
    transformer = build_transformer(TINY_LATENT_CHANNELS, TINY_HEADS, TINY_HEAD_DIM, TINY_LAYERS)
    torch.manual_seed(seed + 3)
    vae = build_video_vae(
        TINY_LATENT_CHANNELS, (16, 32, 32, 32), (16, 32, 64), layers_per_block=1  # each decoder stage halves channels
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


def resolve_model(
    spec: str | Path | Mapping[str, Any] | ModelPaths, names: PathNames | None = None
) -> ModelPaths:
    """A preset name, a folder or single-file path, a mapping of `ModelPaths` fields or `ModelPaths`, checked.

    `tiny` resolves to `$ICLORA_TINY_MODEL_DIR` (built on first use, under `~/.cache/iclora/tiny` by default);
    `demo` to `$ICLORA_DEMO_MODEL_DIR`, by default the trained demo model shipped in `models/demo`;
    `ltx-2.3` to the operator's `LTX_MODEL_PATH` / `LTX_TEXT_ENCODER_PATH`, the variables the web app's settings
    read: the real weights cannot be downloaded here. Raises ModelPathsError naming `names` (the setting) when a
    path is missing or of the wrong kind.
    """
    import os

    if isinstance(spec, str) and spec == TINY:
        root = Path(os.environ.get("ICLORA_TINY_MODEL_DIR", Path.home() / ".cache" / "iclora" / "tiny"))
        if not (root / "model_index.json").exists():
            build_tiny_model(root)
        return ModelPaths(path=root, name=TINY)
    if isinstance(spec, str) and spec == DEMO:
        root = Path(os.environ.get("ICLORA_DEMO_MODEL_DIR", SHIPPED_DEMO_MODEL))
        check_model_paths(ModelPaths(path=root), PathNames("ICLORA_DEMO_MODEL_DIR (the demo model)"))
        return ModelPaths(path=root, name=DEMO)
    if isinstance(spec, str) and spec == LTX_2_3:
        paths, names = from_environment(), ENVIRONMENT  # the paths are the operator's, whoever asked
    elif isinstance(spec, str | Path):
        paths, names = as_model_paths(spec), names or PathNames("model")
        if paths.path.is_dir():  # a folder built by build_tiny_model says so
            paths = paths.model_copy(update={"name": _preset_name(paths.path)})
    else:
        paths = as_model_paths(spec)
    check_model_paths(paths, names or PathNames())
    return paths


def _preset_name(path: Path) -> str:
    marker = path / "iclora_preset.json"
    if marker.exists():
        return str(json.loads(marker.read_text()).get("preset", "custom"))
    return "custom"


def load_pipeline(
    spec: str | Path | Mapping[str, Any] | ModelPaths,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    with_text_encoder: bool = True,
    names: PathNames | None = None,
    with_transformer: bool = True,
    int8_text_encoder: bool = False,
) -> Any:
    """Load an `LTX2InContextPipeline` for the tiny model and for the real one, through one code path.

    `spec` is what `resolve_model` takes: a diffusers folder loads with `from_pretrained`, a single-file
    checkpoint through `single_file.load_components` with the configs of `ModelPaths.configs`.
    `with_text_encoder=False` leaves Gemma out (`ensure_text_encoder` loads it when a prompt must be encoded);
    `with_transformer=False` leaves the transformer out (`attach_transformer` adds it later). Training uses
    both, so the 12B encoder and the 22B transformer are never in GPU memory together. `int8_text_encoder`
    quantizes Gemma on the CPU before it moves to `device` (training with `quantize: int8`). Returns the
    pipeline on `device` in `dtype` (default: `pick_device_and_dtype`).
    """
    paths = resolve_model(spec, names)
    dev, default_dtype = pick_device_and_dtype(device)
    dtype = dtype or default_dtype
    text_encoder = _text_encoder(paths, dtype, int8_text_encoder, own=int8_text_encoder) if with_text_encoder else None
    if paths.single_file:
        pipe = _pipeline_from_single_file(paths, dtype, text_encoder, with_transformer)
    else:
        overrides: dict[str, Any] = {} if with_text_encoder and text_encoder is None else {"text_encoder": text_encoder}
        if not with_transformer:
            overrides["transformer"] = None
        pipe = _pipeline_from_folder(paths, dtype, overrides)
    if paths.distilled:
        # Lightricks' distilled sigmas are final: no resolution-dependent shift, no terminal stretch.
        pipe.scheduler = pipe.scheduler.__class__.from_config(
            pipe.scheduler.config, use_dynamic_shifting=False, shift_terminal=None
        )
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    pipe.iclora_model_name = paths.name
    # What `ensure_text_encoder` and `attach_transformer` load from later.
    pipe.iclora_paths, pipe.iclora_int8_text_encoder = paths, int8_text_encoder
    return pipe


def _text_encoder(paths: ModelPaths, dtype: torch.dtype, int8: bool = False, own: bool = False) -> Any:
    """Gemma, quantized when `int8`: from the separately configured folder when there is one; else from the
    pipeline folder's `text_encoder` when `own`, or None, leaving it to the pipeline's `from_pretrained`."""
    if paths.text_encoder is None and not own:
        return None
    from transformers import AutoModelForImageTextToText

    if paths.text_encoder is not None:
        encoder = AutoModelForImageTextToText.from_pretrained(str(paths.text_encoder), dtype=dtype)
    else:
        encoder = AutoModelForImageTextToText.from_pretrained(str(paths.path), subfolder="text_encoder", dtype=dtype)
    if int8:
        from .lora import quantize_text_encoder_int8

        quantize_text_encoder_int8(encoder)
    return encoder


def ensure_text_encoder(pipe: Any) -> Any:
    """The pipeline's Gemma text encoder, loaded now onto the VAE's device if the pipeline was loaded without it."""
    if pipe.text_encoder is None:
        encoder = _text_encoder(pipe.iclora_paths, pipe.vae.dtype, pipe.iclora_int8_text_encoder, own=True)
        pipe.register_modules(text_encoder=encoder.to(pipe.vae.device).eval())
    return pipe.text_encoder


def encoding_name(pipe: Any) -> str:
    """What cached text embeddings are keyed on: the model, and whether its text encoder ran in int8."""
    name = getattr(pipe, "iclora_model_name", "custom")
    return f"{name}+int8-text-encoder" if getattr(pipe, "iclora_int8_text_encoder", False) else name


def release_text_encoder(pipe: Any) -> None:
    """Drop Gemma and give its memory back (prompts are cached as embeddings; it is needed no more)."""
    import gc

    if pipe.text_encoder is None:
        return
    device = pipe.text_encoder.device
    pipe.register_modules(text_encoder=None)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def load_transformer(paths: ModelPaths, dtype: torch.dtype) -> Any:
    """The transformer alone, on the CPU, from the folder or the single file `paths` names."""
    if paths.single_file:
        from .single_file import load_components

        return load_components(paths.path, paths.configs, dtype, only=("transformer",))["transformer"]
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel.from_pretrained(str(paths.path), subfolder="transformer", torch_dtype=dtype)


def attach_transformer(pipe: Any, transformer: Any) -> None:
    """Put a transformer into a pipeline loaded with `with_transformer=False`, on the pipeline's device."""
    pipe.register_modules(transformer=transformer.to(pipe.vae.device))
    pipe.transformer_spatial_patch_size = transformer.config.patch_size
    pipe.transformer_temporal_patch_size = transformer.config.patch_size_t


def _pipeline_from_folder(paths: ModelPaths, dtype: torch.dtype, overrides: dict[str, Any]) -> Any:
    from diffusers import LTX2InContextPipeline

    return LTX2InContextPipeline.from_pretrained(str(paths.path), dtype=dtype, **overrides)


def _pipeline_from_single_file(
    paths: ModelPaths, dtype: torch.dtype, text_encoder: Any, with_transformer: bool = True
) -> Any:
    from diffusers import FlowMatchEulerDiscreteScheduler, LTX2InContextPipeline
    from transformers import AutoTokenizer

    configs = paths.configs
    # A config folder may carry the tokenizer; Lightricks' layout has it in the Gemma folder.
    tokenizer_dir = configs / "tokenizer" if (configs / "tokenizer").is_dir() else paths.text_encoder
    return LTX2InContextPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(str(configs), subfolder="scheduler"),
        tokenizer=AutoTokenizer.from_pretrained(str(tokenizer_dir)),
        text_encoder=text_encoder,
        **_single_file_components(paths, dtype, with_transformer),
    )


def _single_file_components(paths: ModelPaths, dtype: torch.dtype, with_transformer: bool) -> dict[str, Any]:
    from .single_file import COMPONENTS, load_components

    only = tuple(c for c in COMPONENTS if with_transformer or c != "transformer")
    components = load_components(paths.path, paths.configs, dtype, only=only)
    return components if with_transformer else {**components, "transformer": None}


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def latent_shape(pipe: Any, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """Latent (frames, height, width) of a pixel clip, using the pipeline's own compression ratios."""
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    return (frames - 1) // t + 1, math.ceil(height / s), math.ceil(width / s)
