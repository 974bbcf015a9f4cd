"""Rough training time and GPU memory for a set of settings, scaled from measured reference points.

Reference points:
- tiny: measured by bench/engine_cpu.py (docs/benchmarks.md, "CPU: tiny preset"): 0.083 s per step at
  128×128×17, rank 32, gradient checkpointing, 2 busy CPU cores; prepare (model load + conform + encode) 35 s for
  15 pairs.
- demo: the conditioning-gain bench (bench/demo_model.py, docs/benchmarks.md, "Demo model"): 24 pairs prepared
  and 400 steps at 256×160×17, rank 32, in 128 s on 2 cores; split here as 0.27 s a step and 0.8 s a pair (the
  split itself is not measured).
- ltx-2.3: our own GPU measurements where wizard/gpu_measurements.jsonl holds them (bench/gpu_session.sh; fitted
  by wizard/measured.py). Until then, and for what they leave out: 2000–3000 steps at 768×448×121 take about 1–2
  hours on one 80 GB GPU, i.e. ~2.2 s per step (shared/design/recipes.md, "Typical time"; Lightricks' trainer
  defaults), time growing a little faster than the tokens (attention, exponent 1.15), and ~1.2 MB of activations
  per token. Memory always counts the weights held beside the transformer during training, from the shipped
  LTX-2.3 configs (LTX23_*_GIB below; tests/wizard/test_plan.py recounts them), an allowance for the CUDA context
  and allocator, and the LoRA with its AdamW state at 16 bytes per parameter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from wizard.measured import GIB, LORA_BYTES_PER_PARAM, MEASUREMENTS, fit, read_lines

# bf16 weights on the training GPU, from the shipped configs: the transformer (18.99 B parameters), and what stays
# beside it for validation samples: text connectors 5.91, video VAE 1.35, audio VAE and vocoder 0.34.
LTX23_TRANSFORMER_GIB = 35.37
LTX23_OTHER_GIB = 7.60
LTX23_LORA_PARAMS_PER_RANK = 5_111_808  # the engine's default targets in all 48 blocks
RUNTIME_ALLOWANCE_GIB = 2.0  # CUDA context, allocator slack: an allowance, not a measurement


@dataclass(frozen=True)
class Benchmark:
    tokens: int  # target + reference latent tokens of the measured shape
    seconds_per_step: float
    base_memory_gib: float  # weights and fixed overhead
    memory_per_token_mib: float
    lora_params_per_rank: int
    gpu_memory_gib: float  # the card the figures are for, unless the operator says what the workers have
    prepare_seconds_per_pair: float
    source: str
    int8_saving_gib: float = 0.0  # weights memory saved when the frozen transformer is stored in int8
    int8_time_factor: float = 1.0  # step time in int8 over step time in bf16
    time_exponent: float = 1.15  # step time grows as tokens ** time_exponent


def latent_tokens(width: int, height: int, frames: int, downscale: int = 1) -> int:
    """Target tokens plus reference tokens (32× smaller in space, 8× in time; reference / d in each side)."""
    target = (width // 32) * (height // 32) * ((frames - 1) // 8 + 1)
    reference = (width // (32 * downscale)) * (height // (32 * downscale)) * ((frames - 1) // 8 + 1)
    return target + reference


TINY = Benchmark(
    tokens=latent_tokens(128, 128, 17), seconds_per_step=0.083, base_memory_gib=0.3, memory_per_token_mib=0.5,
    lora_params_per_rank=20_000, gpu_memory_gib=8.0, prepare_seconds_per_pair=2.4,
    source="our CPU benchmark of the tiny model, 128×128×17, rank 32 (docs/benchmarks.md)",
)
DEMO = Benchmark(
    tokens=latent_tokens(256, 160, 17), seconds_per_step=0.27, base_memory_gib=0.5, memory_per_token_mib=0.5,
    lora_params_per_rank=40_000, gpu_memory_gib=8.0, prepare_seconds_per_pair=0.8,
    source="our CPU measurement of the demo model, 256×160×17, rank 32: 24 pairs prepared and 400 steps in "
           "128 s (docs/benchmarks.md, demo model)",
)
LTX23_DESIGN_NOTES = Benchmark(
    tokens=latent_tokens(768, 448, 121), seconds_per_step=2.2,
    base_memory_gib=LTX23_TRANSFORMER_GIB + LTX23_OTHER_GIB + RUNTIME_ALLOWANCE_GIB, memory_per_token_mib=1.2,
    lora_params_per_rank=LTX23_LORA_PARAMS_PER_RANK, gpu_memory_gib=80.0, prepare_seconds_per_pair=20.0,
    source="LTX-2.3 on one 80 GB GPU, 768×448×121, rank 32 (recipe notes: 2000–3000 steps in 1–2 h)",
    int8_saving_gib=LTX23_TRANSFORMER_GIB / 2,  # int8 halves the transformer; the rest stays bf16
)


def ltx23_benchmark(path: Path = MEASUREMENTS) -> Benchmark:
    """The LTX-2.3 reference point: our GPU measurements in `path` where they say it, the design notes' figures
    for the rest (and for all of it while there are none)."""
    measured = fit(read_lines(path))
    if measured is None:
        return LTX23_DESIGN_NOTES
    bench, kept = LTX23_DESIGN_NOTES, []
    if measured.seconds_per_step is not None:
        bench = replace(bench, tokens=measured.tokens, seconds_per_step=measured.seconds_per_step,
                        time_exponent=measured.time_exponent or bench.time_exponent)
    else:
        kept.append("time per step")
    if measured.fixed_memory_gib is not None and measured.memory_per_token_mib is not None:
        # The benchmark holds the transformer alone; a run also keeps the text connectors and VAEs for samples.
        bench = replace(bench, base_memory_gib=measured.fixed_memory_gib + LTX23_OTHER_GIB + RUNTIME_ALLOWANCE_GIB,
                        memory_per_token_mib=measured.memory_per_token_mib)
    else:
        kept.append("memory")
    if measured.int8_saving_gib is not None and measured.int8_time_factor is not None:
        bench = replace(bench, int8_saving_gib=measured.int8_saving_gib, int8_time_factor=measured.int8_time_factor)
    source = f"our trainer measured on {measured.device}, {measured.runs} runs (docs/benchmarks.md)"
    if kept:
        source += f"; {' and '.join(kept)} from the recipe notes (1–2 h for 2000–3000 steps on 80 GB)"
    return replace(bench, source=source)


BENCHMARKS = {"tiny": TINY, "demo": DEMO, "ltx-2.3": ltx23_benchmark()}


@dataclass(frozen=True)
class Estimate:
    seconds: float
    memory_gib: float
    gpu_memory_gib: float
    source: str

    @property
    def fits(self) -> bool:
        return self.memory_gib <= self.gpu_memory_gib * 0.95

    @property
    def memory_text(self) -> str:
        if self.memory_gib < 1:
            return "under 1 GB"
        return f"about {self.memory_gib:.0f} GB of {self.gpu_memory_gib:.0f} GB"

    @property
    def time_text(self) -> str:
        minutes = self.seconds / 60
        if minutes < 1:
            return "under a minute"
        if minutes < 90:
            return f"about {max(1, round(minutes / 5) * 5) if minutes > 10 else round(minutes)} minutes"
        return f"about {minutes / 60:.1f} hours"


def estimate(model: str, width: int, height: int, frames: int, downscale: int, rank: int, steps: int,
             pairs: int, *, int8: bool = False, gpu_memory_gib: float | None = None) -> Estimate:
    """Time and peak GPU memory of a run; `int8` when the workers store the transformer in int8
    (`TRAINING_QUANTIZE`), `gpu_memory_gib` the memory of their GPUs (`TRAINING_GPU_MEMORY_GB`)."""
    bench = BENCHMARKS.get(model, BENCHMARKS["ltx-2.3"])
    tokens = latent_tokens(width, height, frames, downscale)
    per_step = bench.seconds_per_step * (tokens / bench.tokens) ** bench.time_exponent
    if int8:
        per_step *= bench.int8_time_factor
    seconds = per_step * steps + bench.prepare_seconds_per_pair * pairs
    weights = bench.base_memory_gib - (bench.int8_saving_gib if int8 else 0.0)
    lora = bench.lora_params_per_rank * rank * LORA_BYTES_PER_PARAM / GIB
    memory = weights + tokens * bench.memory_per_token_mib / 1024 + lora
    if int8 and bench.int8_saving_gib:
        slower = (f"steps take {bench.int8_time_factor:.1f}× as long" if bench.int8_time_factor != 1.0
                  else "steps may be slower")
        source = f"{bench.source}; int8 weights save about {bench.int8_saving_gib:.0f} GB ({slower})"
    else:
        source = bench.source
    return Estimate(seconds=seconds, memory_gib=memory, gpu_memory_gib=gpu_memory_gib or bench.gpu_memory_gib,
                    source=source)
