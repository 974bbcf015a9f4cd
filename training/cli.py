"""`python -m training ...`: the engine from the command line, without the web app. See docs/training.md."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from engine.bases import BASES, LTX_2_3
from engine.buckets import Bucket, assign_bucket, parse_labels
from engine.captions import with_trigger
from engine.config import load_config
from engine.export import read_adapter
from engine.media import conform, probe, write_mp4


def _build_tiny(args: argparse.Namespace) -> int:
    # torch (seconds): only the commands that run the model load it; `probe` and `--help` stay fast
    from engine.tiny_model import build_tiny_model

    out = build_tiny_model(args.dir, seed=args.seed, base=args.base)
    print(f"tiny LTX-2 pipeline written to {out} ({args.base}; load it with LTX2InContextPipeline.from_pretrained)")
    return 0


def _build_demo(args: argparse.Namespace) -> int:
    # torch (seconds): only the commands that run the model load it; `probe` and `--help` stay fast
    from engine.demo_model import BuildSettings, build_demo_model

    def log(line: str) -> None:
        print(line, flush=True)  # the build runs for an hour, often in the background with its output in a file

    if args.dir.exists() and not args.dir.is_dir():
        raise ValueError(f"{args.dir} is a file: give a folder for the demo model (it is created if missing)")
    settings = BuildSettings(seed=args.seed)
    if args.quick:
        settings = BuildSettings(seed=args.seed, transformer_steps=4, clips_per_source=1)
    out = build_demo_model(args.dir, settings, log=log)
    print(f"demo LTX-2 pipeline written to {out} (load it with LTX2InContextPipeline.from_pretrained)")
    return 0


def _probe(args: argparse.Namespace) -> int:
    for path in args.videos:
        print(json.dumps(probe(path).as_dict()))
    return 0


def _demo_pairs(args: argparse.Namespace) -> int:
    # engine.synthetic imports torch (via engine.dataset): only this command pays for it
    from engine.synthetic import make_pairs

    print(make_pairs(args.dir, args.count, width=args.width, height=args.height, seconds=args.seconds))
    return 0


def _prepare(args: argparse.Namespace) -> int:
    # torch (seconds): only the commands that run the model load it; `probe` and `--help` stay fast
    from engine.loader import load_pipeline
    from engine.train import prepare_from_config

    cfg = load_config(args.config)
    # Encoding needs no transformer; Gemma comes in only if a caption is not cached yet.
    pipe = load_pipeline(cfg.model, device=None if cfg.device == "auto" else cfg.device, with_text_encoder=False,
                         with_transformer=False)
    _, reports = prepare_from_config(pipe, cfg)
    for r in reports:
        if args.json:
            print(json.dumps(r.as_dict()))
        else:
            state = "cached earlier" if r.cached else "encoded"
            where = f"bucket {r.bucket} ({r.bucket_reason}), " if len(cfg.buckets) > 1 else ""
            at = f" from {r.start:.2f} s" if r.start else ""
            print(f"pair {r.index + 1} ({Path(r.video).name}{at}): {where}{', '.join(r.actions) or 'used as is'} "
                  f"[{state}]")
    rows = len({r.index for r in reports})
    clips = f" as {len(reports)} training clips" if len(reports) > rows else ""
    print(f"{rows} pairs ready{clips} in {cfg.cache_dir}")
    return 0


def _train(args: argparse.Namespace) -> int:
    # torch (seconds): only the commands that run the model load it; `probe` and `--help` stay fast
    from engine.train import Progress, TrainingHooks, seconds_to_text, train

    cfg = load_config(args.config)
    if args.steps is not None:
        cfg.optim.steps = args.steps
    every = max(1, args.print_every)

    def progress(p: Progress) -> None:
        if p.step % every == 0 or p.step == p.total:
            print(
                f"step {p.step}/{p.total}  loss {p.loss:.4f}  lr {p.lr:.2e}  {p.steps_per_s:.2f} steps/s  "
                f"eta {seconds_to_text(p.eta_s)}  peak {p.peak_memory_mb:.0f} MiB",
                flush=True,
            )

    result = train(cfg, TrainingHooks(on_progress=progress, on_log=lambda m: print(m, flush=True)))
    print(f"{result.status} after {result.steps} steps; adapter: {result.adapter_path}")
    return 0 if result.status == "finished" else 1


def _generate(args: argparse.Namespace) -> int:
    # numpy, torch (seconds): only the commands that run the model load them; `probe` and `--help` stay fast
    import numpy as np

    from engine.loader import PathNames, load_pipeline
    from engine.sample import generate, reference_frames  # torch too

    pipe = load_pipeline(_model_spec(args), device=args.device, names=PathNames("--model", "--text-encoder"))
    downscale, prompt = args.downscale or 1, args.prompt
    bucket_text = None
    if args.adapter:
        info = read_adapter(args.adapter, pipe.transformer)
        pipe.load_lora_weights(str(args.adapter), adapter_name="iclora")
        downscale = args.downscale or info.reference_downscale_factor
        bucket_text = info.metadata.get("bucket")
        prompt = with_trigger(info.trigger, prompt)
    trained = _trained_bucket(bucket_text, args.reference)
    bucket = Bucket(args.width or trained.width, args.height or trained.height, args.frames or trained.frames,
                    args.fps or trained.fps)
    bucket.check(downscale)
    # A still image (identity adapters) stays one frame: it conditions every frame of the output.
    reference = conform(
        args.reference, bucket.fps, bucket.width // downscale, bucket.height // downscale,
        reference_frames(args.reference, bucket),
    )
    video = generate(
        pipe,
        reference,
        bucket,
        downscale,
        prompt=prompt,
        num_inference_steps=args.steps,
        guidance_scale=args.guidance,
        seed=args.seed,
        lora_scale=args.lora_scale,
        max_sequence_length=args.max_sequence_length,
    )
    out = write_mp4(np.asarray(video), args.out, bucket.fps)
    print(f"wrote {out} ({bucket.label()}, reference downscale {downscale})")
    return 0


def _trained_bucket(text: str | None, reference: Path) -> Any:
    """The shape the adapter was trained at (its `bucket` metadata, e.g. 128x128x17@24); of several
    (comma-separated), the one closest to the reference's aspect ratio; LTX-2's usual 768x448x121@24 when the
    adapter recorded none."""
    buckets = parse_labels(text) if text else []
    if len(buckets) < 2:
        return buckets[0] if buckets else Bucket(768, 448, 121, 24.0)
    info = probe(reference)
    chosen = assign_bucket(info.width, info.height, None, info.fps, buckets)  # no length given: all eligible
    assert chosen is not None
    return chosen.bucket


def _model_spec(args: argparse.Namespace) -> str | dict[str, str]:
    """--model alone (preset, folder), or with --text-encoder the files of a single-file checkpoint."""
    if args.text_encoder is None:
        return str(args.model)
    return {"path": str(args.model), "text_encoder": str(args.text_encoder)}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description="Train and try IC-LoRA adapters for LTX-2.")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("build-tiny-model", help="write the tiny random LTX-2 pipeline folder")
    s.add_argument("dir", type=Path)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--base", choices=tuple(BASES), default=LTX_2_3,
                   help="the base model whose architecture and text encoder it has (default ltx-2.3)")
    s.set_defaults(func=_build_tiny)

    s = sub.add_parser(
        "build-demo-model",
        help="train the small demo LTX-2 pipeline on the shipped footage (about an hour of CPU; run it again to "
        "continue an interrupted build)",
    )
    s.add_argument("dir", type=Path)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--quick", action="store_true", help="a few steps of each phase: checks the build, not a model")
    s.set_defaults(func=_build_demo)

    s = sub.add_parser("probe", help="print fps, frames, size, duration, audio and codec of videos as JSON")
    s.add_argument("videos", nargs="+", type=Path)
    s.set_defaults(func=_probe)

    s = sub.add_parser("make-demo-pairs", help="write synthetic restoration pairs and a manifest (no footage needed)")
    s.add_argument("dir", type=Path)
    s.add_argument("--count", type=int, default=15)
    s.add_argument("--width", type=int, default=160)
    s.add_argument("--height", type=int, default=128)
    s.add_argument("--seconds", type=float, default=1.0)
    s.set_defaults(func=_demo_pairs)

    s = sub.add_parser("prepare", help="conform, encode and cache the pairs of a training config")
    s.add_argument("config", type=Path)
    s.add_argument("--json", action="store_true", help="one JSON report per pair")
    s.set_defaults(func=_prepare)

    s = sub.add_parser("train", help="train an adapter from a YAML config (resumes if checkpoints exist)")
    s.add_argument("config", type=Path)
    s.add_argument("--steps", type=int, default=None, help="override optim.steps")
    s.add_argument("--print-every", type=int, default=10)
    s.set_defaults(func=_train)

    s = sub.add_parser("generate", help="adapter + reference video + prompt -> mp4")
    s.add_argument(
        "--model", default="tiny", help="preset (tiny, demo, ltx-2.3), pipeline folder or single .safetensors"
    )
    s.add_argument("--text-encoder", type=Path, default=None, help="Gemma-3 folder (needed with a single file)")
    s.add_argument("--adapter", type=Path, default=None)
    s.add_argument("--reference", type=Path, required=True)
    s.add_argument("--prompt", default="")
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--width", type=int)
    s.add_argument("--height", type=int)
    s.add_argument("--frames", type=int)
    s.add_argument("--fps", type=float)
    s.add_argument("--downscale", type=int, default=None, help="default: the adapter's reference_downscale_factor")
    s.add_argument("--steps", type=int, default=30)
    s.add_argument("--guidance", type=float, default=1.0)
    s.add_argument("--lora-scale", type=float, default=1.0)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--max-sequence-length", type=int, default=1024)
    s.add_argument("--device", default=None)
    s.set_defaults(func=_generate)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, FileNotFoundError) as err:  # PairError, MediaError, AdapterError, ValidationError included
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
