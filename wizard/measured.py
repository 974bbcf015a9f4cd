"""The LTX-2.3 training figures fitted to our own GPU measurements.

`bench/gpu_session.sh` writes one JSON line per measurement (bench/engine_gpu.py's report); committed as
`wizard/gpu_measurements.jsonl`, they replace the design notes' figures in the wizard's estimate. The fit:
- time per step grows as a power of the token count (attention makes it a little faster than linear), fitted
  in log space over the bf16 runs, scaled to 48 layers where fewer were run;
- peak memory is what every shape holds (weights, fixed overhead) plus a part that grows linearly with the
  tokens (activations under gradient checkpointing), fitted over the full 48-layer bf16 runs after taking out
  the LoRA and its AdamW state (the estimate adds those for the creator's rank);
- int8 is the difference, and the ratio of step times, between int8 and bf16 runs of the same shape.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import Any

MEASUREMENTS = Path(__file__).with_name("gpu_measurements.jsonl")
FULL_LAYERS = 48
GIB = 1024**3
LORA_BYTES_PER_PARAM = 16  # fp32 weight, gradient and AdamW's two moments


@dataclass(frozen=True)
class Fit:
    device: str
    runs: int
    tokens: int  # the largest measured shape's target + reference tokens: where `seconds_per_step` is read
    seconds_per_step: float | None  # None: no bf16 run
    time_exponent: float | None  # None: fewer than two shapes
    fixed_memory_gib: float | None  # None: fewer than two full-model shapes
    memory_per_token_mib: float | None
    int8_saving_gib: float | None  # None: no int8 run beside a bf16 run of the same shape
    int8_time_factor: float | None


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The measurement lines of `path` (none when it does not exist); a malformed line raises."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def fit(rows: list[dict[str, Any]]) -> Fit | None:
    """Fit time and memory to the GPU runs among `rows`; None when there is none (smoke runs do not count)."""
    gpu = [r for r in rows if r.get("peak_vram_gb") is not None]
    if not gpu:
        return None
    bf16 = [r for r in gpu if r["weights"] == "bfloat16"]
    full = [r for r in bf16 if r["layers"] == FULL_LAYERS]
    tokens = max(r["tokens"] for r in gpu)
    seconds, exponent = _time_fit(bf16, tokens)
    fixed, per_token = _memory_fit(full)
    saving, factor = _int8_effect(gpu)
    return Fit(device=gpu[0]["device"], runs=len(gpu), tokens=tokens, seconds_per_step=seconds,
               time_exponent=exponent, fixed_memory_gib=fixed, memory_per_token_mib=per_token,
               int8_saving_gib=saving, int8_time_factor=factor)


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope of ys against xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return my - slope * mx, slope


def _time_fit(rows: list[dict[str, Any]], tokens: int) -> tuple[float | None, float | None]:
    if not rows:
        return None, None
    points = [(r["tokens"], r["seconds_per_step_scaled_to_48_layers"]) for r in rows]
    if len({t for t, _ in points}) < 2:
        return median(s for _, s in points), None
    intercept, slope = _line([math.log(t) for t, _ in points], [math.log(s) for _, s in points])
    return math.exp(intercept + slope * math.log(tokens)), slope


def _memory_fit(rows: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    if len({r["tokens"] for r in rows}) < 2:
        return None, None
    peaks = [r["peak_vram_gb"] - r["lora_params"] * LORA_BYTES_PER_PARAM / GIB for r in rows]
    intercept, slope = _line([float(r["tokens"]) for r in rows], peaks)
    return intercept, slope * 1024


def _int8_effect(rows: list[dict[str, Any]]) -> tuple[float | None, float | None]:
    def key(r: dict[str, Any]) -> tuple[int, int, int]:
        return r["tokens"], r["layers"], r["rank"]

    bf16 = {key(r): r for r in rows if r["weights"] == "bfloat16"}
    pairs = [(bf16[key(r)], r) for r in rows if r["weights"] == "int8" and key(r) in bf16]
    if not pairs:
        return None, None
    saving = median((b["peak_vram_gb"] - q["peak_vram_gb"]) * FULL_LAYERS / b["layers"] for b, q in pairs)
    factor = median(q["seconds_per_step"] / b["seconds_per_step"] for b, q in pairs)
    return saving, factor
