"""The same IC-LoRA training step through Lightricks' `ltx-core` transformer, for the side-by-side in engine_gpu.py.

`ltx-core` is not a dependency of the app. `make test` installs it beside the benchmark (for
tests/training/test_ltx_core_parity.py), without its dependencies (it pins nothing the app lacks but `einops`;
`torchaudio` is needed only by its audio VAE, which is not imported here); by hand:

    .venv/bin/pip install --no-deps --target bench/.ltx-core ltx-core==1.0.0 einops

The step gets exactly the tensors our step gives diffusers' transformer (`StepInputs` from `build_step_inputs`):
target + reference tokens, per-token timesteps (0 on the clean reference), the same RoPE coordinates (B, 3, T, 2)
and text embeddings. Differences, both in ltx-core's favour by a hair: the audio stream is left out (`audio=None`)
where ours carries one isolated zero token, and the loss is the same masked MSE on the target tokens.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

LOCAL = Path(__file__).resolve().parent / ".ltx-core"


def import_ltx_core() -> None:
    """Make the `--target` install importable; fail with the install command when it is missing."""
    if LOCAL.is_dir() and str(LOCAL) not in sys.path:
        sys.path.insert(0, str(LOCAL))
    try:
        import ltx_core  # noqa: F401
    except ImportError as err:
        raise SystemExit(
            "ltx-core is not installed: .venv/bin/pip install --no-deps --target bench/.ltx-core ltx-core==1.0.0 "
            "einops"
        ) from err


def build_model(cfg: dict[str, Any], device: torch.device, dtype: torch.dtype) -> torch.nn.Module:
    """ltx-core's `LTXModel` with the shape of a diffusers `LTX2VideoTransformer3DModel` config, random weights.

    LTX-2.3 (22B) has no caption projection in the transformer: the text connectors make 4096-wide embeddings.
    """
    from ltx_core.model.transformer.model import LTXModel, LTXModelType
    from ltx_core.model.transformer.rope import LTXRopeType

    torch.set_default_dtype(dtype)  # build it directly in bf16 on the card, as ours is
    with device:
        model = LTXModel(
            model_type=LTXModelType.AudioVideo,
            num_attention_heads=cfg["num_attention_heads"],
            attention_head_dim=cfg["attention_head_dim"],
            in_channels=cfg["in_channels"],
            out_channels=cfg["out_channels"],
            num_layers=cfg["num_layers"],
            cross_attention_dim=cfg["cross_attention_dim"],
            audio_num_attention_heads=cfg["audio_num_attention_heads"],
            audio_attention_head_dim=cfg["audio_attention_head_dim"],
            audio_in_channels=cfg["audio_in_channels"],
            audio_out_channels=cfg["audio_out_channels"],
            audio_cross_attention_dim=cfg["audio_cross_attention_dim"],
            rope_type=LTXRopeType(cfg["rope_type"]),
            apply_gated_attention=cfg["gated_attn"],
            cross_attention_adaln=cfg["cross_attn_mod"],
        )
    torch.set_default_dtype(torch.float32)
    return model


def add_lora(model: torch.nn.Module, rank: int, targets: list[str]) -> list[torch.nn.Parameter]:
    """The same peft LoRA as the engine's (`engine.lora.add_lora`): same modules, alpha = rank, fp32."""
    from peft import LoraConfig, inject_adapter_in_model

    from engine.lora import adapter_parameters, target_module_regex

    model.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=True, target_modules=target_module_regex(targets))
    inject_adapter_in_model(config, model)
    return adapter_parameters(model, targets)


def step_fn(model: torch.nn.Module, inputs: Any) -> Callable[[], torch.Tensor]:
    """A closure computing the step's loss through `model` from our `StepInputs`."""
    from ltx_core.guidance.perturbations import BatchedPerturbationConfig
    from ltx_core.model.transformer import Modality

    from engine.train import masked_mse

    kw = inputs.model_kwargs
    batch = kw["hidden_states"].shape[0]
    # ltx-core takes sigmas in [0, 1] and scales them by 1000 itself; ours are already scaled.
    video = Modality(
        latent=kw["hidden_states"],
        sigma=kw["sigma"] / 1000.0,
        timesteps=kw["timestep"] / 1000.0,
        positions=kw["video_coords"],
        context=kw["encoder_hidden_states"],
        context_mask=kw["encoder_attention_mask"],
    )
    perturbations = BatchedPerturbationConfig.empty(batch)

    def loss() -> torch.Tensor:
        pred, _ = model(video, None, perturbations)
        return masked_mse(pred[:, : inputs.num_target_tokens], inputs.velocity, inputs.loss_mask)

    return loss
