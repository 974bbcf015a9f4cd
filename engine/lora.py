"""Attach a peft LoRA to the video stream of the transformer, optionally on int8 weights."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

ADAPTER_NAME = "iclora"


def target_module_regex(targets: list[str]) -> str:
    """A full-match regex for `transformer_blocks.{i}.<target>`.

    A regex rather than peft's suffix matching keeps the intent explicit: `attn1.to_q` must not catch
    `audio_attn1.to_q`, and nothing outside the transformer blocks is touched.
    """
    alternatives = "|".join(re.escape(t) for t in targets)
    return rf"transformer_blocks\.\d+\.({alternatives})"


def quantize_int8(transformer: torch.nn.Module) -> None:
    """Store the frozen transformer's linear weights as int8 (optimum-quanto), before the LoRA is added.

    quanto's `QLinear` subclasses `nn.Linear`, so peft wraps it like any linear layer: the adapter trains in
    full precision on top of dequantised int8 weights.
    """
    # optimum.quanto loads torch: only when quantizing, on the GPU worker (the web process imports this module)
    from optimum.quanto import freeze, qint8, quantize

    quantize(transformer, weights=qint8, exclude=["proj_in", "proj_out", "audio_proj_in", "audio_proj_out"])
    freeze(transformer)


def quantize_text_encoder_int8(encoder: torch.nn.Module) -> None:
    """Store Gemma's linear weights as int8, so the 12B encoder needs ~11 GB instead of ~23 GB while captions
    are encoded (ltx-trainer offers the same, in 8 bit). Embeddings and norms stay in full precision."""
    # optimum.quanto loads torch: only when quantizing, on the GPU worker (the web process imports this module)
    from optimum.quanto import freeze, qint8, quantize

    quantize(encoder, weights=qint8)
    freeze(encoder)


def add_lora(
    transformer: Any, rank: int, alpha: float, targets: list[str], dropout: float = 0.0
) -> list[torch.nn.Parameter]:
    """Freeze the transformer and inject a LoRA adapter named `iclora`; return its trainable parameters.

    Uses diffusers' `add_adapter`, so `LTX2InContextPipeline` runs with the adapter as-is (validation samples)
    and honours `attention_kwargs={"scale": s}`. lora_B starts at zero: the untrained adapter changes nothing.
    """
    # peft loads torch: only when training, on the GPU worker (the web process imports this module)
    from peft import LoraConfig

    transformer.requires_grad_(False)
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,  # peft types it int; it is used as alpha / r in float
        lora_dropout=dropout,
        init_lora_weights=True,
        target_modules=target_module_regex(targets),
    )
    transformer.add_adapter(config, adapter_name=ADAPTER_NAME)
    return adapter_parameters(transformer, targets)


def adapter_parameters(model: torch.nn.Module, targets: list[str]) -> list[torch.nn.Parameter]:
    """The injected LoRA's weights, made trainable and fp32; a ValueError when no module matched `targets`."""
    params = [p for n, p in model.named_parameters() if "lora_" in n]
    for p in params:
        p.requires_grad_(True)
        # Adapter weights train in fp32 even on a bf16 base: bf16 Adam updates of small deltas round to zero.
        p.data = p.data.float()
    if not params:
        raise ValueError(f"no module matched the LoRA targets {targets}")
    return params


def lora_state_dict(transformer: Any) -> dict[str, torch.Tensor]:
    """The adapter's weights in peft naming without the adapter name:
    `transformer_blocks.0.attn1.to_q.lora_A.weight` -> tensor."""
    out = {}
    for name, p in transformer.named_parameters():
        if "lora_" in name:
            out[name.replace(f".{ADAPTER_NAME}", "")] = p.detach()
    return out


def load_lora_state_dict(transformer: Any, state: dict[str, torch.Tensor]) -> None:
    """Copy weights saved by `lora_state_dict` back into the injected adapter (exact, in place)."""
    params = dict(transformer.named_parameters())
    for key, value in state.items():
        a, b = key.rsplit(".lora_", 1)
        name = f"{a}.lora_{b.split('.', 1)[0]}.{ADAPTER_NAME}.{b.split('.', 1)[1]}"
        if name not in params:
            raise KeyError(f"adapter weight {key} has no place in this transformer")
        params[name].data.copy_(value)
