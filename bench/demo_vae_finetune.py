"""Can the demo model's VAE be *trained* into one whose latents edge maps predict? (docs/benchmarks.md, "Demo model")

    .venv/bin/python bench/demo_vae_finetune.py --steps 1200            # this machine's CPU: about 23 minutes
    python bench/demo_vae_finetune.py --steps 20000 --device cuda       # what a GPU session would run

The shipped VAE is a linear thumbnail codec set by `construct_vae`, and its edge-map latents say nothing about the
targets' latents (the linear probe of bench/demo_model.py), which is why the edge-map conditioning gain stays at 1.0.
This starts from that codec in the same architecture with one ResNet block a level (`layers_per_block=1`), gives the
64 latent channels the codec leaves empty a small random encoding (both sides zero would be a saddle: no gradient),
and fine-tunes every weight with Adam on the build's footage (L1 + image-gradient L1, 128x128x9 crops, batch 2),
except the weights that read one of the codec's constant channels: a change there is multiplied by about 1000 and
destroyed the codec in earlier tries. Every `--every` steps it prints:
- the reconstruction PSNR of the real car clip (tests/media, never in the build's footage) at 256x160x25;
- a linear probe on the 24 synthetic edge-map pairs of bench/demo_model.py: ridge regression from each reference
  latent token to the target token at the same place, fitted on 21 pairs, scored on 3, with both sides centred per
  place (what every clip shares at a place, such as the codec's constants near a border, says nothing about a
  pair). Scored against predicting 0, for the codec's 48 thumbnail channels and the 64 new ones; a VAE whose edge
  maps can drive a gain of 1.5 needs the true references well below that.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONSTANT_ABOVE = 50.0  # a conv input channel this large on a random clip carries one of the codec's constants


def finetunable_vae(device: str) -> tuple[Any, list[Any], dict[Any, Any]]:
    """The codec with ResNet blocks, its trainable parameters, and the gradient mask of each masked weight."""
    import torch

    from engine.demo_model import DEMO_LATENT_CHANNELS, construct_vae
    from engine.tiny_model import build_video_vae

    torch.manual_seed(0)
    vae = build_video_vae(DEMO_LATENT_CHANNELS, (32, 64, 64, 128), (32, 64, 128), 1)
    construct_vae(vae)  # zeroes every weight, the ResNet blocks' too: each block starts as the identity
    with torch.no_grad():
        for name, parameter in vae.named_parameters():
            if "resnets" in name and "conv1" in name and name.endswith("weight"):
                torch.nn.init.normal_(parameter, std=0.02)  # conv2 stays 0: the block adds nothing until trained
        torch.nn.init.normal_(vae.encoder.conv_out.conv.weight[64:DEMO_LATENT_CHANNELS], std=0.01)
    inputs: dict[Any, Any] = {}
    convs = [m for m in vae.modules() if isinstance(m, torch.nn.Conv3d)]
    hooks = [m.register_forward_hook(lambda m, i, o: inputs.__setitem__(m, i[0].abs().amax(dim=(0, 2, 3, 4))))
             for m in convs]
    with torch.no_grad():
        vae.decode(vae.encode(torch.rand(1, 3, 9, 128, 128) * 2 - 1).latent_dist.mode())
    for hook in hooks:
        hook.remove()
    trainable, masks = [], {}
    for conv in convs:
        mask = torch.ones_like(conv.weight)
        mask[:, inputs[conv] > CONSTANT_ABOVE] = 0
        masks[conv.weight] = mask.to(device)
        trainable += [conv.weight] + ([conv.bias] if conv.bias is not None else [])
    return vae.to(device), trainable, masks


def edge_probe(vae: Any, pairs: list[Any], device: str) -> dict[str, dict[str, float]]:
    """Held-out MSE of the ridge map from edge-map latents to target latents (centred per place), and of 0."""
    import torch

    from engine.demo_model import video_from_frames
    from engine.media import conform

    def encode(path: Path) -> Any:
        with torch.no_grad():
            video = video_from_frames(conform(path, 24.0, 256, 160, 17)).to(device)
            return vae.encode(video).latent_dist.mode()[0].cpu()

    refs = [encode(p.reference) for p in pairs]
    targets = [encode(p.video) for p in pairs]
    refs = [r - torch.stack(refs[:21]).mean(0) for r in refs]
    targets = [t - torch.stack(targets[:21]).mean(0) for t in targets]

    def tokens(latents: list[Any]) -> Any:
        return torch.stack(latents).permute(0, 2, 3, 4, 1).reshape(-1, latents[0].shape[0])

    x_scale = tokens(refs).std(0).clamp_min(1e-9)
    y_scale = tokens(targets).std(0).clamp_min(1e-9)
    x, x_held = tokens(refs[:21]) / x_scale, tokens(refs[21:]) / x_scale
    out = {}
    for name, channels in (("thumbnail", slice(0, 64)), ("new", slice(64, 128))):
        y, y_held = (tokens(targets[:21]) / y_scale)[:, channels], (tokens(targets[21:]) / y_scale)[:, channels]
        used = tokens(targets).std(0)[channels] > 1e-7
        design = torch.cat([x, torch.ones(len(x), 1)], 1)
        weights = torch.linalg.solve(design.T @ design + torch.eye(design.shape[1]), design.T @ y)
        predicted = torch.cat([x_held, torch.ones(len(x_held), 1)], 1) @ weights
        out[name] = {"true_reference": round(float(((predicted - y_held)[:, used] ** 2).mean()), 3),
                     "zero": round(float((y_held[:, used] ** 2).mean()), 3), "channels": int(used.sum())}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=1200)
    p.add_argument("--lr", type=float, default=2e-5)
    p.add_argument("--every", type=int, default=400)
    p.add_argument("--device", default="cpu")
    p.add_argument("--save", type=Path, help="where to write the fine-tuned weights (a state dict)")
    args = p.parse_args()
    # torch, and bench/demo_model.py (which imports the engine): after the arguments, so --help is instant
    import torch
    from demo_model import make_pairs_for

    from engine.dataset import read_manifest
    from engine.demo_model import Footage, psnr, reconstruct, shapes_scene, video_from_frames
    from engine.media import conform

    print(json.dumps({"machine": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                      "device": args.device}), flush=True)
    vae, trainable, masks = finetunable_vae(args.device)
    opt = torch.optim.Adam(trainable, lr=args.lr)
    car = video_from_frames(conform(ROOT / "tests" / "media" / "carphone_pristine.mp4", 24.0, 256, 160, 25))
    car = car.to(args.device)
    footage, gen = Footage(), torch.Generator().manual_seed(1)

    def batch() -> Any:
        clips = []
        for _ in range(2):
            draw = float(torch.rand((), generator=gen))
            source = footage.clip_window if draw < 0.4 else footage.photo_pan if draw < 0.8 else None
            clips.append(source(gen, 9, 128, 128) if source else shapes_scene(gen, 9, 128, 128))
        return torch.stack(clips).to(args.device)

    def gradient_l1(a: Any, b: Any) -> Any:
        return sum(((a.diff(dim=d) - b.diff(dim=d)).abs().mean() for d in (-1, -2)), torch.zeros((), device=a.device))

    with tempfile.TemporaryDirectory() as tmp:
        pairs = read_manifest(make_pairs_for("edges", Path(tmp), 24))
        began = time.monotonic()
        for step in range(args.steps + 1):
            if step % args.every == 0:
                vae.eval()
                print(json.dumps({"step": step, "seconds": round(time.monotonic() - began),
                                  "car_psnr_db": round(psnr(reconstruct(vae, car), car), 2),
                                  "edge_probe": edge_probe(vae, pairs, args.device)}), flush=True)
                vae.train()
            if step == args.steps:
                break
            x = batch()
            y = vae.decode(vae.encode(x).latent_dist.mode()).sample
            loss = (y - x).abs().mean() + gradient_l1(y, x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            for weight, mask in masks.items():
                weight.grad.mul_(mask)
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            for group in opt.param_groups:
                group["lr"] = args.lr * min(1.0, (step + 1) / 50)  # warm-up: Adam's first steps are full-size
            opt.step()
    if args.save:
        torch.save(vae.state_dict(), args.save)


if __name__ == "__main__":
    main()
