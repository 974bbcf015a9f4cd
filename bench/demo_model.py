"""What the demo model shows a creator (results go to docs/benchmarks.md, "Demo model").

    .venv/bin/python bench/demo_model.py --part vae       # reconstruction PSNR on clips the build never saw
    .venv/bin/python bench/demo_model.py --part gain      # conditioning gain in LTX2InContextPipeline, 2 recipes
    .venv/bin/python bench/demo_model.py --part gain --model /path/to/model --steps 400

Part "vae": PSNR of encode (mode) + decode at the demo bucket (256x160, 17 frames) on the real car clip shipped for
tests and on five ffmpeg generators, beside a flat grey guess.
Part "gain": for restoration pairs (blurred, noisy, darkened references) and edge-map pairs (Canny of the target,
as the Canny recipe makes them), an adapter is trained with the engine (rank 32, 400 steps) on 21 pairs and
judged on 3 held-out ones: the Studio's pipeline call makes each held-out target from its own reference and from
another pair's, same seed; gain = pixel MSE with the swapped reference / with the true one. Also reported: the
same without the adapter, the PSNR of the outputs made from the true reference, and the issue's loss form of the
gain: the held-out flow-matching loss with a swapped reference / with the true one (`engine.train.evaluate`, fixed
sigmas and noise, the transformer called in the run's audio regime, which for `silence` is the pipeline's call),
the PSNR ceiling the VAE sets (its reconstruction of the held-out targets), and a linear probe of how much the
reference's latents say about the target's at all (`linear_probe`).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GENERATORS = ("testsrc2", "mandelbrot", "life", "cellauto", "smptehdbars")
GAIN_SHAPE = (256, 160, 17, 24.0)  # the demo model's quick preset: what the pairs are trained and judged at


def vae_part(model: Path, workdir: Path) -> list[dict[str, Any]]:
    from engine.demo_model import DEMO_BUCKET, psnr, reconstruct, video_from_frames
    from engine.loader import load_pipeline
    from engine.media import conform
    from engine.synthetic import SOURCES, make_clip

    pipe = load_pipeline(model, device="cpu", with_text_encoder=False, with_transformer=False)
    b = DEMO_BUCKET
    clips = {"carphone_pristine (real camera)": ROOT / "tests" / "media" / "carphone_pristine.mp4"}
    for name in GENERATORS:
        seed = next(i for i, src in enumerate(SOURCES) if src.startswith(name))
        clips[f"ffmpeg {name}"] = make_clip(workdir / f"{name}.mp4", seed, 256, 160, 24.0, 1.0)
    rows = []
    for name, path in clips.items():
        video = video_from_frames(conform(path, b.fps, b.width, b.height, 17))
        grey = video.mean().expand_as(video)
        rows.append({"part": "vae", "clip": name, "psnr_db": round(psnr(reconstruct(pipe.vae, video), video), 2),
                     "grey_guess_db": round(psnr(grey, video), 2)})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def make_pairs_for(recipe: str, root: Path, count: int) -> Path:
    """Synthetic restoration pairs, or the same targets with Canny edge references made by the prep code."""
    from engine.dataset import Pair, read_manifest, write_manifest
    from engine.synthetic import make_pairs
    from prep.extract.canny import CannySettings, extract_canny

    manifest = make_pairs(root / "restoration", count, width=256, height=160, seconds=1.0)
    if recipe == "restoration":
        return manifest
    rows = []
    for pair in read_manifest(manifest):
        edges = root / "edges" / f"{pair.video.stem}_canny.mp4"
        edges.parent.mkdir(parents=True, exist_ok=True)
        extract_canny(pair.video, edges, CannySettings())
        rows.append(Pair(pair.index, pair.caption, pair.video, edges))
    return write_manifest(rows, root / "edges" / "manifest.jsonl")


def held_out(manifest: Path, rows: list[int]) -> list[Any]:
    from engine.buckets import Bucket
    from engine.gain import HeldOutPair
    from engine.media import conform
    from engine.train import read_manifest

    b = Bucket(*GAIN_SHAPE)
    pairs = read_manifest(manifest)
    return [HeldOutPair(conform(pairs[i].reference, b.fps, b.width, b.height, 17),
                        conform(pairs[i].video, b.fps, b.width, b.height, 17), pairs[i].caption) for i in rows]


def linear_probe(train: list[Any], held: list[Any]) -> dict[str, float]:
    """How much of each held-out target latent token a linear map from the reference's token at the same place
    predicts: ridge regression (all channels, 1.0 penalty) fitted on the training pairs' cached, normalised latents.
    Returns the held-out MSE with the true reference, with another held-out pair's, and of the training mean: when
    the true reference does no better than the mean, the references carry (linearly) nothing about the targets."""
    import torch

    def tokens(latents: list[Any]) -> Any:
        return torch.stack(latents).permute(0, 2, 3, 4, 1).reshape(-1, latents[0].shape[0])

    x, y = tokens([p.reference_latents for p in train]), tokens([p.target_latents for p in train])
    design = torch.cat([x, torch.ones(len(x), 1)], 1)
    weights = torch.linalg.solve(design.T @ design + torch.eye(design.shape[1]), design.T @ y)
    target = tokens([p.target_latents for p in held])

    def error(references: list[Any]) -> float:
        r = tokens(references)
        return float(((torch.cat([r, torch.ones(len(r), 1)], 1) @ weights - target) ** 2).mean())

    true = [p.reference_latents for p in held]
    return {"true": error(true), "swapped": error(true[1:] + true[:1]),
            "mean": float(((y.mean(0) - target) ** 2).mean())}


def gain_part(
    model: Path, workdir: Path, steps: int, lr: float, recipes: list[str], audio: str, rank: int = 32
) -> list[dict[str, Any]]:
    from engine.buckets import Bucket
    from engine.config import TrainConfig
    from engine.dataset import load_cache
    from engine.demo_model import psnr, reconstruct, video_from_frames
    from engine.gain import conditioning_gain
    from engine.loader import load_pipeline
    from engine.train import evaluate, train

    count, rows_out = 24, []
    validation = [count - 3, count - 2, count - 1]
    for recipe in recipes:
        manifest = make_pairs_for(recipe, workdir / recipe, count)
        cfg = TrainConfig.model_validate({
            "model": str(model), "output_dir": str(workdir / recipe / "run"), "device": "cpu",
            "bucket": {"width": 256, "height": 160, "frames": 17, "fps": 24},
            "data": {"manifest": str(manifest), "max_sequence_length": 128, "validation_indices": validation},
            "lora": {"rank": rank}, "optim": {"steps": steps, "learning_rate": lr}, "diffusion": {"audio": audio},
            "checkpoint": {"every": 100_000}, "validation": {"every": 0},
        })
        began = time.monotonic()
        result = train(cfg)
        train_s = time.monotonic() - began
        pairs = held_out(manifest, validation)
        base = load_pipeline(model, device="cpu")
        untrained = conditioning_gain(base, pairs, Bucket(*GAIN_SHAPE))
        adapted = load_pipeline(model, device="cpu")
        adapted.load_lora_weights(str(result.adapter_path))
        trained = conditioning_gain(adapted, pairs, Bucket(*GAIN_SHAPE))
        cached = load_cache(cfg.cache_dir, validation)
        probe = linear_probe(load_cache(cfg.cache_dir, [i for i in range(count) if i not in validation]), cached)
        loss_true = evaluate(adapted, cached, 1, audio=audio)
        loss_swapped = evaluate(adapted, cached, 1, swap_references=True, audio=audio)
        base_true = evaluate(base, cached, 1, audio=audio)
        base_swapped = evaluate(base, cached, 1, swap_references=True, audio=audio)
        targets = [video_from_frames(p.target) for p in pairs]
        ceiling = sum(psnr(reconstruct(base.vae, t), t) for t in targets) / len(targets)
        row = {"part": "gain", "recipe": recipe, "audio": audio, "steps": steps, "learning_rate": lr, "rank": rank,
               "train_s": round(train_s, 1),
               "gain": round(trained.gain, 2), "gain_without_adapter": round(untrained.gain, 2),
               "psnr_true_reference_db": round(trained.true_psnr, 2),
               "psnr_without_adapter_db": round(untrained.true_psnr, 2), "vae_ceiling_db": round(ceiling, 2),
               "loss_gain": round(loss_swapped / loss_true, 2), "loss_gain_without_adapter": round(
                   base_swapped / base_true, 2), "eval_loss": round(loss_true, 4),
               "probe_mse": {k: round(v, 3) for k, v in probe.items()}}
        rows_out.append(row)
        print(json.dumps(row), flush=True)
    return rows_out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("vae", "gain", "all"), default="all")
    p.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--rank", type=int, default=32)
    p.add_argument("--recipes", default="restoration,edges")
    p.add_argument("--audio", choices=("isolated", "silence"), default="silence", help="the training regime")
    args = p.parse_args()
    print(json.dumps({"machine": platform.processor() or platform.machine(), "cores": __import__("os").cpu_count()}))
    with tempfile.TemporaryDirectory() as tmp:
        if args.part in ("vae", "all"):
            vae_part(args.model, Path(tmp))
        if args.part in ("gain", "all"):
            gain_part(args.model, Path(tmp), args.steps, args.lr, args.recipes.split(","), args.audio, args.rank)


if __name__ == "__main__":
    main()
