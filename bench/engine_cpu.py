"""CPU benchmark of the training engine on the tiny preset (results go to docs/benchmarks.md, "Engine").

    .venv/bin/python bench/engine_cpu.py            # both parts
    .venv/bin/python bench/engine_cpu.py --part step --bucket 128x128x17

Part "step": seconds per optimizer step and peak memory (process RSS) at three bucket sizes, each in its own
process so the peak belongs to that bucket alone. Rank 32, fp32, gradient checkpointing on (the defaults).
Part "e2e": wall time of prepare + train + export for 15 synthetic pairs (make-demo-pairs content).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BUCKETS = ("128x128x17", "256x160x33", "384x224x49")


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_benchmark(bucket: str, steps: int, workdir: Path) -> dict[str, object]:
    from engine.config import TrainConfig
    from engine.dataset import load_cache, prepare, read_manifest
    from engine.synthetic import make_pairs
    from engine.tiny_model import build_tiny_model
    from engine.train import draw_step, setup_model, step_loss

    w, h, f = (int(x) for x in bucket.split("x"))
    model = build_tiny_model(workdir / "tiny")
    manifest = make_pairs(workdir / "pairs", 4, width=w, height=h, seconds=(f + 8) / 24)
    cfg = TrainConfig.model_validate(
        {
            "model": str(model),
            "output_dir": str(workdir / "run"),
            "device": "cpu",
            "bucket": {"width": w, "height": h, "frames": f, "fps": 24},
            "data": {"manifest": str(manifest), "max_sequence_length": 128},
            "lora": {"rank": 32},
        }
    )
    pipe, params = setup_model(cfg)
    prepare(pipe, read_manifest(manifest), cfg.bucket.to_bucket(), cfg.cache_dir, max_sequence_length=128)
    pairs = load_cache(cfg.cache_dir)
    pipe.text_encoder = None
    before = rss_mb()
    opt = torch.optim.AdamW(params, lr=2e-4)
    gen = torch.Generator().manual_seed(0)
    times = []
    for _ in range(steps + 3):
        t0 = time.perf_counter()
        loss = step_loss(pipe, draw_step(pipe, pairs, cfg, gen))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t0)
    steady = sorted(times[3:])  # the first steps pay one-off allocation costs
    _, lf, lh, lw = pairs[0].target_latents.shape
    return {
        "bucket": bucket,
        "target_tokens": lf * lh * lw,
        "reference_tokens": lf * lh * lw,
        "seconds_per_step_median": round(steady[len(steady) // 2], 4),
        "peak_rss_mb": round(rss_mb(), 1),
        "rss_before_training_mb": round(before, 1),
    }


def e2e_benchmark(pairs: int, steps: int, workdir: Path) -> dict[str, object]:
    from engine.config import TrainConfig
    from engine.synthetic import make_pairs
    from engine.tiny_model import build_tiny_model
    from engine.train import TrainingHooks, train

    model = build_tiny_model(workdir / "tiny")
    t0 = time.perf_counter()
    manifest = make_pairs(workdir / "pairs", pairs)
    made = time.perf_counter() - t0
    marks: dict[str, float] = {}

    def log(message: str) -> None:
        if message.startswith(f"pair {pairs}:"):
            marks["prepared"] = time.perf_counter()

    cfg = TrainConfig.model_validate(
        {
            "model": str(model),
            "output_dir": str(workdir / "run"),
            "device": "cpu",
            "bucket": {"width": 128, "height": 128, "frames": 17, "fps": 24},
            "data": {"manifest": str(manifest), "max_sequence_length": 128},
            "lora": {"rank": 32},
            "optim": {"steps": steps},
            "validation": {"every": 0, "num_inference_steps": 20},
        }
    )
    start = time.perf_counter()
    result = train(cfg, TrainingHooks(on_log=log))
    end = time.perf_counter()
    return {
        "pairs": pairs,
        "steps": steps,
        "make_synthetic_clips_s": round(made, 1),
        "load_and_prepare_s": round(marks["prepared"] - start, 1),
        "train_sample_export_s": round(end - marks["prepared"], 1),
        "total_s": round(end - start, 1),
        "adapter_mb": round(Path(str(result.adapter_path)).stat().st_size / 2**20, 2),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--part", choices=["all", "step", "e2e"], default="all")
    p.add_argument("--bucket", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--e2e-steps", type=int, default=400)
    args = p.parse_args()
    if not args.bucket:
        print(
            json.dumps(
                {
                    "machine": platform.processor() or platform.machine(),
                    "threads": torch.get_num_threads(),
                    "torch": torch.__version__,
                }
            )
        )
    if args.part in ("all", "step"):
        if args.bucket:
            with tempfile.TemporaryDirectory() as tmp:
                print(json.dumps(step_benchmark(args.bucket, args.steps, Path(tmp))), flush=True)
        else:
            for bucket in BUCKETS:  # one process per bucket: ru_maxrss never goes down
                subprocess.run(
                    [sys.executable, __file__, "--part", "step", "--bucket", bucket, "--steps", str(args.steps)],
                    check=True,
                )
    if args.part in ("all", "e2e"):
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(e2e_benchmark(15, args.e2e_steps, Path(tmp))), flush=True)


if __name__ == "__main__":
    main()
