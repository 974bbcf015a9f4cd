"""GPU benchmark: one IC-LoRA training step on a full-width LTX-2.3-shaped transformer with random weights.

    .venv/bin/python bench/engine_gpu.py                      # 48 layers, 768x448x121 + reference, bf16, rank 32
    .venv/bin/python bench/engine_gpu.py --layers 24          # fewer layers if memory demands; scaled to 48 on paper
    .venv/bin/python bench/engine_gpu.py --smoke              # tiny widths on CPU: checks the script itself runs
    .venv/bin/python bench/engine_gpu.py --ltx-core           # and the same step through ltx-core, side by side
    .venv/bin/python bench/engine_gpu.py --int8               # the frozen transformer in int8 (TRAINING_QUANTIZE)

Reports seconds per step, peak VRAM, and MFU against the bf16 matmul peak measured on the same card in the
same run. The step is the engine's own (`build_step_inputs` + `step_loss`, gradient checkpointing, peft LoRA on
the video-stream targets), fed random latents and text embeddings of the real shapes.

`--ltx-core` then times the same step, on the same tensors, through Lightricks' `ltx-core` transformer at the same
shape (bench/ltx_core_step.py says how to install it), so the ratio of the two is measured in one run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

LTX23 = {
    "in_channels": 128,
    "out_channels": 128,
    "num_attention_heads": 32,
    "attention_head_dim": 128,
    "cross_attention_dim": 4096,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_num_attention_heads": 32,
    "audio_attention_head_dim": 64,
    "audio_cross_attention_dim": 2048,
    "num_layers": 48,
    "caption_channels": 3840,
    "gated_attn": True,
    "cross_attn_mod": True,
    "audio_gated_attn": True,
    "audio_cross_attn_mod": True,
    "use_prompt_embeddings": False,
    "rope_type": "split",
}
SMOKE = {
    **LTX23,
    "num_attention_heads": 4,
    "attention_head_dim": 16,
    "cross_attention_dim": 64,
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "audio_cross_attention_dim": 16,
    "in_channels": 16,
    "out_channels": 16,
    "audio_in_channels": 8,
    "audio_out_channels": 8,
}


def matmul_peak_tflops(device: torch.device, n: int = 8192, reps: int = 50) -> float:
    """Measured dense bf16 matmul throughput of this card (the MFU denominator)."""
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    for _ in range(5):
        a @ b
    torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e12


def forward_flops(cfg: dict[str, Any], layers: int, tokens: int, text: int) -> float:
    """Matmul FLOPs of one forward pass of the video stream (the audio stream has one token here)."""
    d = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    per_block = (
        2 * tokens * 4 * d * d  # attn1 q, k, v, out
        + 2 * 2 * tokens * tokens * d  # attn1 QK^T and AV
        + 2 * tokens * 2 * d * d
        + 2 * text * 2 * d * d  # attn2 q, out on video; k, v on text
        + 2 * 2 * tokens * text * d  # attn2 scores
        + 2 * tokens * 8 * d * d  # feed-forward 4x
    )
    return layers * per_block


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=48)
    p.add_argument("--width", type=int, default=768)
    p.add_argument("--height", type=int, default=448)
    p.add_argument("--frames", type=int, default=121)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--text-tokens", type=int, default=1024)
    p.add_argument("--smoke", action="store_true", help="tiny widths on CPU, to check the script runs")
    p.add_argument("--int8", action="store_true",
                   help="store the frozen transformer's weights in int8 first, as TRAINING_QUANTIZE=int8 does")
    p.add_argument("--ltx-core", action="store_true",
                   help="also time the same step through Lightricks' ltx-core model (see bench/ltx_core_step.py)")
    args = p.parse_args()
    if args.int8 and args.ltx_core:
        p.error("--int8 and --ltx-core do not go together: ltx-core's side of the comparison is not quantized")

    from diffusers import LTX2InContextPipeline, LTX2VideoTransformer3DModel

    from engine.config import LORA_TARGETS
    from engine.dataset import Bucket, CachedPair
    from engine.lora import add_lora, quantize_int8
    from engine.train import build_step_inputs, step_loss

    device = torch.device("cpu" if args.smoke else "cuda")
    dtype = torch.float32 if args.smoke else torch.bfloat16
    cfg = {**(SMOKE if args.smoke else LTX23), "num_layers": args.layers}
    if args.smoke:
        args.width, args.height, args.frames, args.text_tokens = 128, 64, 17, 32

    peak = None if args.smoke else matmul_peak_tflops(device)
    torch.manual_seed(0)
    torch.set_default_dtype(dtype)  # build the 20B-parameter model directly in bf16 on the card
    with device:
        transformer = LTX2VideoTransformer3DModel(**cfg)
    torch.set_default_dtype(torch.float32)
    if args.int8:
        quantize_int8(transformer)
    params = add_lora(transformer, args.rank, float(args.rank), list(LORA_TARGETS))
    transformer.enable_gradient_checkpointing()
    transformer.train()
    pipe = SimpleNamespace(
        transformer=transformer,
        vae=SimpleNamespace(
            latents_mean=torch.zeros(cfg["in_channels"]),
            latents_std=torch.ones(cfg["in_channels"]),
            config=SimpleNamespace(scaling_factor=1.0),
        ),
        _pack_latents=LTX2InContextPipeline._pack_latents,
        _normalize_latents=LTX2InContextPipeline._normalize_latents,
        transformer_spatial_patch_size=1,
        transformer_temporal_patch_size=1,
    )
    f, h, w = (args.frames - 1) // 8 + 1, args.height // 32, args.width // 32
    c, d_text = cfg["in_channels"], cfg["num_attention_heads"] * cfg["attention_head_dim"]
    pair = CachedPair(
        target_latents=torch.randn(c, f, h, w),
        reference_latents=torch.randn(c, f, h, w),
        video_prompt_embeds=torch.randn(args.text_tokens, d_text),
        audio_prompt_embeds=torch.randn(
            args.text_tokens, cfg["audio_num_attention_heads"] * cfg["audio_attention_head_dim"]
        ),
        prompt_attention_mask=torch.ones(args.text_tokens, dtype=torch.int64),
        caption="",
        bucket=Bucket(args.width, args.height, args.frames, 24.0),
    )
    noise = torch.randn(1, f * h * w, c, generator=torch.Generator().manual_seed(0))
    inputs = build_step_inputs(pipe, [pair], torch.tensor([0.7]), noise, torch.tensor([False]), 24.0, 1)
    step_s, peak_gb = time_steps(lambda: step_loss(pipe, inputs), params, device, args.steps)
    lora_params = sum(p.numel() for p in params)
    core = None
    if args.ltx_core:
        del transformer, pipe, params
        core = ltx_core_seconds(cfg, inputs, args.rank, device, dtype, args.steps)
    tokens = 2 * f * h * w  # target + reference
    # Useful work of a LoRA step: forward + backward to the activations (~2x forward); the frozen weights get
    # no gradient, and the checkpointing recompute is not counted (the usual MFU convention).
    flops = 2 * forward_flops(cfg, args.layers, tokens, args.text_tokens)
    report = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu (smoke)",
        "layers": args.layers,
        "shape": f"{args.width}x{args.height}x{args.frames} + reference",
        "tokens": tokens,
        "rank": args.rank,
        "weights": "int8" if args.int8 else str(dtype).removeprefix("torch."),
        "lora_params": lora_params,
        "seconds_per_step": round(step_s, 3),
        "seconds_per_step_scaled_to_48_layers": round(step_s * 48 / args.layers, 3),
        "peak_vram_gb": peak_gb,
        "matmul_peak_tflops": round(peak, 1) if peak else None,
        "achieved_tflops": round(flops / step_s / 1e12, 1),
        "mfu": round(flops / step_s / 1e12 / peak, 3) if peak else None,
    }
    if core is not None:
        core_s, core_gb, core_lora = core
        report |= {"ltx_core_seconds_per_step": round(core_s, 3), "ltx_core_peak_vram_gb": core_gb,
                   "ltx_core_lora_params": core_lora, "ours_over_ltx_core": round(step_s / core_s, 3)}
    print(json.dumps(report))


def time_steps(
    loss_fn: Callable[[], torch.Tensor], params: list[torch.nn.Parameter], device: torch.device, steps: int
) -> tuple[float, float | None]:
    """Median seconds of a full training step (forward, backward, clip, AdamW) after two warm-up steps, and the
    peak GPU memory in GB (None on the CPU)."""
    opt = torch.optim.AdamW(params, lr=2e-4)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    for _ in range(steps + 2):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        loss_fn().backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    measured = sorted(times[2:])
    peak = round(torch.cuda.max_memory_allocated(device) / 2**30, 1) if device.type == "cuda" else None
    return measured[len(measured) // 2], peak


def ltx_core_seconds(
    cfg: dict[str, Any], inputs: Any, rank: int, device: torch.device, dtype: torch.dtype, steps: int
) -> tuple[float, float | None, int]:
    """The same step through ltx-core's transformer (bench/ltx_core_step.py): seconds, peak GB and the number of
    LoRA parameters (equal to ours when both adapt the same modules)."""
    import ltx_core_step as core

    from engine.config import LORA_TARGETS

    core.import_ltx_core()
    torch.manual_seed(0)
    model = core.build_model(cfg, device, dtype)
    params = core.add_lora(model, rank, list(LORA_TARGETS))
    model.set_gradient_checkpointing(True)  # type: ignore[operator]
    model.train()
    seconds, peak = time_steps(core.step_fn(model, inputs), params, device, steps)
    return seconds, peak, sum(p.numel() for p in params)


if __name__ == "__main__":
    main()
