"""Training time and GPU memory for a set of settings.

Time is launch-to-ready without the wait for a machine: preparing the clips, getting the model ready, the steps,
the samples and saving the adapter. Each of the five comes, in this order of preference, from
1. this server's own measurements at exactly this size (`Measured`, from training.speeds: the worker records the
   speeds of every run it finishes),
2. the benchmark tables below, measured on a machine of the kind the model runs on (tiny, demo), or
3. the design figures (LTX-2.3 until this server has trained at the size),
and the estimate says which in a creator's words (`Estimate.basis`); `Estimate.source` keeps the operator's
detail (which benchmark, which shape).

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

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from wizard.measured import GIB, LORA_BYTES_PER_PARAM, MEASUREMENTS, fit, read_lines

# bf16 weights on the training GPU, from the shipped configs: the transformer (18.99 B parameters), and what stays
# beside it for validation samples: text connectors 5.91, video VAE 1.35, audio VAE and vocoder 0.34.
LTX23_TRANSFORMER_GIB = 35.37
LTX23_OTHER_GIB = 7.60
LTX23_LORA_PARAMS_PER_RANK = 5_111_808  # the engine's default targets in all 48 blocks
RUNTIME_ALLOWANCE_GIB = 2.0  # CUDA context, allocator slack: an allowance, not a measurement

# The stages outside the steps, at the benchmark's size: model ready + first step, one sample, saving. Allowances
# until bench/estimates.py is run on an idle machine (docs/benchmarks.md, "Estimates against measured times": the one
# run so far, on a machine shared by other jobs, took far longer); a server's own runs replace them (training.speeds).
TINY_LOAD_S, TINY_SAMPLE_S, TINY_SAVE_S = 3.0, 2.0, 1.0
DEMO_LOAD_S, DEMO_SAMPLE_S, DEMO_SAVE_S = 6.0, 6.0, 2.0


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
    # Outside the steps (at `tokens`; a sample's time grows with its tokens like a step's):
    load_seconds: float = 0.0  # model ready to train, and the first step's one-off costs, per run
    seconds_per_sample: float = 0.0  # one validation sample
    save_seconds: float = 0.0  # the final checkpoint, the adapter file and storing it, per run
    measured: bool = True  # False: design figures, not measured on any machine
    # The small models train on the CPU of an ordinary machine, where "GPU memory" would be untrue.
    memory_label: str = "GPU memory"


def latent_tokens(width: int, height: int, frames: int, downscale: int = 1) -> int:
    """Target tokens plus reference tokens (32× smaller in space, 8× in time; reference / d in each side)."""
    target = (width // 32) * (height // 32) * ((frames - 1) // 8 + 1)
    reference = (width // (32 * downscale)) * (height // (32 * downscale)) * ((frames - 1) // 8 + 1)
    return target + reference


TINY = Benchmark(
    tokens=latent_tokens(128, 128, 17), seconds_per_step=0.083, base_memory_gib=0.3, memory_per_token_mib=0.5,
    lora_params_per_rank=20_000, gpu_memory_gib=8.0, prepare_seconds_per_pair=2.4,
    load_seconds=TINY_LOAD_S, seconds_per_sample=TINY_SAMPLE_S, save_seconds=TINY_SAVE_S, memory_label="Memory",
    source="our CPU benchmark of the tiny model, 128×128×17, rank 32 (docs/benchmarks.md)",
)
DEMO = Benchmark(
    tokens=latent_tokens(256, 160, 17), seconds_per_step=0.27, base_memory_gib=0.5, memory_per_token_mib=0.5,
    lora_params_per_rank=40_000, gpu_memory_gib=8.0, prepare_seconds_per_pair=0.8,
    load_seconds=DEMO_LOAD_S, seconds_per_sample=DEMO_SAMPLE_S, save_seconds=DEMO_SAVE_S, memory_label="Memory",
    source="our CPU measurement of the demo model, 256×160×17, rank 32: 24 pairs prepared and 400 steps in "
           "128 s (docs/benchmarks.md, demo model)",
)
LTX23_DESIGN_NOTES = Benchmark(
    tokens=latent_tokens(768, 448, 121), seconds_per_step=2.2,
    base_memory_gib=LTX23_TRANSFORMER_GIB + LTX23_OTHER_GIB + RUNTIME_ALLOWANCE_GIB, memory_per_token_mib=1.2,
    lora_params_per_rank=LTX23_LORA_PARAMS_PER_RANK, gpu_memory_gib=80.0, prepare_seconds_per_pair=20.0,
    source="LTX-2.3 on one 80 GB GPU, 768×448×121, rank 32 (recipe notes: 2000–3000 steps in 1–2 h)",
    int8_saving_gib=LTX23_TRANSFORMER_GIB / 2,  # int8 halves the transformer; the rest stays bf16
    # Allowances, not measurements: loading 22 B parameters from disk, a 30-step sample at 768×448×121, saving.
    load_seconds=180.0, seconds_per_sample=120.0, save_seconds=60.0, measured=False,
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


def ltx25_benchmark(ltx23: Benchmark) -> Benchmark:
    """LTX-2.5's reference point: LTX-2.3's figures, as a guess until measured. The transformer is LTX-2.3's but for
    its feed-forward biases and a keyframe embedding (engine.bases), so time and memory per token are the same design;
    its text encoder (Gemma 4) is released before the transformer is loaded, as Gemma 3 is."""
    return replace(ltx23, measured=False,
                   source=f"LTX-2.3's figures, not yet measured on LTX-2.5 (the same transformer size): {ltx23.source}")


_LTX23 = ltx23_benchmark()
BENCHMARKS = {"tiny": TINY, "demo": DEMO, "ltx-2.3": _LTX23, "ltx-2.5": ltx25_benchmark(_LTX23)}


@dataclass(frozen=True)
class Measured:
    """This server's speed at one stage and size (training.models.MeasuredSpeed): seconds per clip, run, step or
    sample, and over how many finished runs."""

    seconds: float
    runs: int


STAGES = ("prepare", "load", "step", "sample", "save")
WINDOW = 5  # the running mean spans the last 5 runs (training.speeds.WINDOW)

# What the estimate is based on, weakest last; said to the creator on the Settings and Launch pages.
THIS_SERVER, THIS_KIND, GUESS = "server", "machine", "guess"


def basis_text(basis: str, runs: int = 0) -> str:
    """Where the time comes from, in words for a creator: no file names, sizes or settings."""
    if basis == THIS_SERVER:
        shown = min(runs, WINDOW)
        return f"based on the last {shown} run{'s' if shown != 1 else ''} on this server"
    if basis == THIS_KIND:
        return "based on measurements of this kind of machine; this server has not trained at this size yet"
    return "a rough guess: this server has not trained at this size yet"


@dataclass(frozen=True)
class Estimate:
    seconds: float
    memory_gib: float
    gpu_memory_gib: float
    source: str  # for operators: the benchmark and shape behind the figures
    basis: str = ""  # for creators: `basis_text`
    stage_seconds: tuple[tuple[str, float], ...] = ()  # (stage, seconds) in STAGES order
    memory_label: str = "GPU memory"  # how the pages name the memory figure (Benchmark.memory_label)

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
            shown = max(1, round(minutes / 5) * 5) if minutes > 10 else round(minutes)
            return "about a minute" if shown == 1 else f"about {shown} minutes"
        return f"about {minutes / 60:.1f} hours"


def estimate(model: str, width: int, height: int, frames: int, downscale: int, rank: int, steps: int,
             pairs: int, *, int8: bool = False, gpu_memory_gib: float | None = None, samples: int = 0,
             measured: Mapping[str, Measured] | None = None) -> Estimate:
    """Launch-to-ready time and peak GPU memory of a run of `pairs` training clips making `samples` validation
    samples; `int8` when the workers store the transformer in int8 (`TRAINING_QUANTIZE`), `gpu_memory_gib` the
    memory of their GPUs (`TRAINING_GPU_MEMORY_GB`); `measured` this server's speeds at this size, by stage."""
    bench = BENCHMARKS.get(model, BENCHMARKS["ltx-2.3"])
    tokens = latent_tokens(width, height, frames, downscale)
    scale = tokens / bench.tokens
    per_step = bench.seconds_per_step * scale ** bench.time_exponent
    if int8:
        per_step *= bench.int8_time_factor
    tables = {"prepare": bench.prepare_seconds_per_pair, "load": bench.load_seconds, "step": per_step,
              "sample": bench.seconds_per_sample * scale, "save": bench.save_seconds}
    counts = {"prepare": pairs, "load": 1, "step": steps, "sample": samples, "save": 1}
    measured = measured or {}
    # Every stage this run has must be measured here for the whole to be "this server's"; one that is not falls
    # back to the tables, and the estimate says the weaker basis.
    used = [stage for stage in STAGES if counts[stage]]
    here = all(stage in measured for stage in used)
    parts = tuple((stage, (measured[stage].seconds if here else tables[stage]) * counts[stage]) for stage in STAGES)
    seconds = sum(part for _, part in parts)
    if here:
        basis = basis_text(THIS_SERVER, min(measured[stage].runs for stage in used))
    else:
        basis = basis_text(THIS_KIND if bench.measured else GUESS)
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
                    source=source, basis=basis, stage_seconds=parts, memory_label=bench.memory_label)
