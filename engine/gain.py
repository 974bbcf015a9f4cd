"""How much an adapter uses its reference, measured where the creator sees it: in `LTX2InContextPipeline`.

Conditioning gain = error with a swapped reference / error with the true one, on held-out pairs. Each pair's target
is generated twice from the same seed and prompt with the Studio's call (`sample.generate`): once from its own
reference, once from another pair's. An adapter that ignores its reference gives the same video both times (gain
1.0); one that follows it gets much closer to the target with the true reference. Errors are pixel MSE against the
target clip, so the figure is about the pictures, not about latents the creator never sees.

`training.evaluate` gives the training-regime counterpart (velocity loss at fixed sigmas).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .buckets import Bucket
from .sample import generate


@dataclass(frozen=True)
class HeldOutPair:
    """A pair conformed to the bucket: reference (F, H/d, W/d, 3) and target (F, H, W, 3) uint8, and its caption."""

    reference: np.ndarray
    target: np.ndarray
    caption: str


@dataclass(frozen=True)
class GainReport:
    true_mse: float  # mean pixel MSE (0-1 pixels) of the outputs made from each pair's own reference
    swapped_mse: float  # the same with another pair's reference
    true_psnr: float  # mean PSNR (dB) of the outputs made from the true reference

    @property
    def gain(self) -> float:
        return self.swapped_mse / max(self.true_mse, 1e-12)


def psnr_of_mse(mse: float) -> float:
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def output_error(
    pipe: Any, pair: HeldOutPair, reference: np.ndarray, bucket: Bucket, steps: int, seed: int, downscale: int = 1
) -> float:
    """Pixel MSE between the target of `pair` and what the pipeline makes from `reference` and the pair's caption."""
    video = generate(
        pipe, reference, bucket, downscale, prompt=pair.caption, num_inference_steps=steps, seed=seed,
        max_sequence_length=128,
    )
    return float(np.mean((video - pair.target.astype(np.float32) / 255.0) ** 2))


def conditioning_gain(
    pipe: Any, pairs: list[HeldOutPair], bucket: Bucket, steps: int = 12, seed: int = 0, downscale: int = 1
) -> GainReport:
    """Gain over `pairs` (at least two); pair i is also generated from pair i+1's reference (wrapping around)."""
    if len(pairs) < 2:
        raise ValueError("conditioning gain needs at least two held-out pairs (one lends the other its reference)")
    true, swapped = [], []
    for i, pair in enumerate(pairs):
        other = pairs[(i + 1) % len(pairs)].reference
        true.append(output_error(pipe, pair, pair.reference, bucket, steps, seed, downscale))
        swapped.append(output_error(pipe, pair, other, bucket, steps, seed, downscale))
    return GainReport(
        true_mse=float(np.mean(true)),
        swapped_mse=float(np.mean(swapped)),
        true_psnr=float(np.mean([psnr_of_mse(m) for m in true])),
    )
