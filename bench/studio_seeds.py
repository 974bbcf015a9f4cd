"""How much a restoration adapter's Studio output depends on the Studio's random seed (docs/benchmarks.md, "A
creator's first adapter").

    .venv/bin/python bench/creator_walk.py --keep              # prints the data folder it kept
    .venv/bin/python bench/studio_seeds.py DATA/work/runs/1/output/run-1.safetensors [more adapters]

The creator walk scores one Studio generation, whose seed is random, so its "+N dB" is one draw. This makes the walk's
Studio generation again (the Studio's call, `engine.sample.generate`: tests/media/carphone_distorted.mp4 at the
shape the Studio picks for it, 224x192, 17 frames at 25 fps, 20 steps, the walk's prompt) for 16 seeds, with each
adapter and without one, and scores every output against the clean clip as the walk does. Printed as JSON: the mean
PSNR with and without, and the gain's mean, minimum, maximum and the share of seeds at +3 dB or more.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MEDIA = ROOT / "tests" / "media"
PROMPT = "ENHANCE QUALITY a man talking in a car, sharp and clean"  # what the walk types
SHAPE = (224, 192, 17, 25.0)  # what the Studio picks for the 176x144 reference ("Size follows the reference")


def main() -> None:
    # the project's modules: importable once ROOT is on sys.path (the script runs from anywhere)
    from engine.buckets import Bucket
    from engine.loader import load_pipeline
    from engine.media import conform
    from engine.sample import generate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("adapters", nargs="+", type=Path)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "demo")
    parser.add_argument("--seeds", type=int, default=16)
    args = parser.parse_args()

    bucket = Bucket(*SHAPE)
    reference = conform(MEDIA / "carphone_distorted.mp4", bucket.fps, bucket.width, bucket.height, bucket.frames)
    clean = conform(MEDIA / "carphone_pristine.mp4", bucket.fps, bucket.width, bucket.height, bucket.frames)
    clean_01 = clean.astype(np.float64) / 255
    seeds = [int(s) for s in np.random.default_rng(7).integers(0, 2**32 - 1, args.seeds)]

    def psnr_of(adapter: Path | None) -> np.ndarray:
        pipe = load_pipeline(args.model, device="cpu")
        if adapter is not None:
            pipe.load_lora_weights(str(adapter))
        out = []
        for seed in seeds:
            video = generate(pipe, reference, bucket, prompt=PROMPT, num_inference_steps=20, seed=seed,
                             max_sequence_length=128)
            out.append(10 * np.log10(1 / np.mean((video.astype(np.float64) - clean_01) ** 2)))
        return np.array(out)

    without = psnr_of(None)
    for adapter in args.adapters:
        with_adapter = psnr_of(adapter)
        gain = with_adapter - without
        print(json.dumps({
            "adapter": str(adapter), "seeds": len(seeds), "psnr_with_db": round(float(with_adapter.mean()), 2),
            "psnr_without_db": round(float(without.mean()), 2), "gain_mean_db": round(float(gain.mean()), 2),
            "gain_min_db": round(float(gain.min()), 2), "gain_max_db": round(float(gain.max()), 2),
            "share_at_3_db": round(float((gain >= 3).mean()), 2),
        }), flush=True)


if __name__ == "__main__":
    main()
