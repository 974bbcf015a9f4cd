"""GPU benchmark: one IC-LoRA training step on a full-width LTX-2.3-shaped transformer with random weights.

    .venv/bin/python bench/engine_gpu.py                      # 48 layers, 768x448x121 + reference, bf16, rank 32
    .venv/bin/python bench/engine_gpu.py --layers 24          # fewer layers if memory demands; scaled to 48 on paper
    .venv/bin/python bench/engine_gpu.py --smoke              # tiny widths on CPU: checks the script itself runs

Reports seconds per step, peak VRAM, and MFU against the bf16 matmul peak measured on the same card in the
same run. The step is the engine's own (`build_step_inputs` + `step_loss`, gradient checkpointing, peft LoRA on
the video-stream targets), fed random latents and text embeddings of the real shapes.

Not done here (see docs/benchmarks.md): the side-by-side step through Lightricks' `ltx-core` model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

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
    args = p.parse_args()

    from diffusers import LTX2InContextPipeline, LTX2VideoTransformer3DModel

    from training.engine.config import LORA_TARGETS
    from training.engine.dataset import Bucket, CachedPair
    from training.engine.lora import add_lora
    from training.engine.train import build_step_inputs, step_loss

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
    params = add_lora(transformer, args.rank, float(args.rank), list(LORA_TARGETS))
    transformer.enable_gradient_checkpointing()  # type: ignore[attr-defined]
    transformer.train()  # type: ignore[attr-defined]
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
    opt = torch.optim.AdamW(params, lr=2e-4)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(args.steps + 2):
        gen = torch.Generator().manual_seed(i)
        noise = torch.randn(1, f * h * w, c, generator=gen)
        inputs = build_step_inputs(pipe, [pair], torch.tensor([0.7]), noise, torch.tensor([False]), 24.0, 1)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        step_loss(pipe, inputs).backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    step_s = sorted(times[2:])[len(times[2:]) // 2]
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
        "seconds_per_step": round(step_s, 3),
        "seconds_per_step_scaled_to_48_layers": round(step_s * 48 / args.layers, 3),
        "peak_vram_gb": round(torch.cuda.max_memory_allocated(device) / 2**30, 1) if device.type == "cuda" else None,
        "matmul_peak_tflops": round(peak, 1) if peak else None,
        "achieved_tflops": round(flops / step_s / 1e12, 1),
        "mfu": round(flops / step_s / 1e12 / peak, 3) if peak else None,
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
