"""The estimate's LTX-2.3 figures fitted to GPU measurement lines as bench/gpu_session.sh writes them."""

import json
import math

import pytest

from wizard import estimate as estimates
from wizard.estimate import LTX23_DESIGN_NOTES, estimate, latent_tokens, ltx23_benchmark
from wizard.measured import GIB, MEASUREMENTS, fit, read_lines

pytestmark = pytest.mark.backend_free

LORA_PER_RANK = 5_111_808


def _line(width, height, frames, *, rank=32, weights="bfloat16", layers=48, seconds_factor=1.0, saving=0.0):
    """A report as bench/engine_gpu.py prints it, from a known law: 2e-4 s × tokens^1.2; 36 GB + 1.5 MB per token
    + the LoRA's 16 bytes per parameter."""
    tokens = latent_tokens(width, height, frames)
    lora = LORA_PER_RANK * rank
    seconds = 2e-4 * tokens**1.2 * layers / 48 * seconds_factor
    peak = (36.0 + tokens * 1.5 / 1024) * layers / 48 + lora * 16 / GIB - saving * layers / 48
    return {"device": "NVIDIA H100 80GB HBM3", "layers": layers, "shape": f"{width}x{height}x{frames} + reference",
            "tokens": tokens, "rank": rank, "weights": weights, "lora_params": lora, "seconds_per_step": seconds,
            "seconds_per_step_scaled_to_48_layers": seconds * 48 / layers, "peak_vram_gb": peak}


SESSION = [
    _line(768, 448, 121),
    _line(768, 448, 121, weights="int8", seconds_factor=1.3, saving=17.5),
    _line(768, 448, 81),
    _line(512, 288, 49, rank=16),
    _line(960, 544, 121),
]


def _write(tmp_path, rows):
    path = tmp_path / "gpu_measurements.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_it_recovers_time_and_memory_laws_from_a_sessions_lines():
    result = fit(SESSION)
    assert result is not None
    assert result.device == "NVIDIA H100 80GB HBM3" and result.runs == 5
    assert result.tokens == latent_tokens(960, 544, 121)
    assert result.time_exponent == pytest.approx(1.2)
    assert result.seconds_per_step == pytest.approx(2e-4 * result.tokens**1.2)
    assert result.fixed_memory_gib == pytest.approx(36.0)
    assert result.memory_per_token_mib == pytest.approx(1.5)
    assert (result.int8_saving_gib, result.int8_time_factor) == (pytest.approx(17.5), pytest.approx(1.3))


def test_smoke_runs_on_a_cpu_are_not_measurements():
    smoke = {**_line(768, 448, 121), "device": "cpu (smoke)", "peak_vram_gb": None}
    assert fit([smoke]) is None


def test_runs_with_fewer_layers_count_for_time_but_not_for_memory():
    rows = [_line(768, 448, 121, layers=24), _line(512, 288, 49, layers=24), _line(768, 448, 121)]
    result = fit(rows)
    assert result is not None
    assert result.time_exponent == pytest.approx(1.2)  # the 24-layer times are scaled to 48
    assert result.fixed_memory_gib is None  # one full-model shape cannot separate weights from activations


def test_a_missing_file_means_no_measurements_and_a_broken_line_fails_loudly(tmp_path):
    assert read_lines(tmp_path / "absent.jsonl") == []
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"device": "NVIDIA H100"\n')
    with pytest.raises(json.JSONDecodeError):
        read_lines(broken)


def test_without_measurements_the_estimate_keeps_the_design_notes_figures(tmp_path):
    assert ltx23_benchmark(tmp_path / "absent.jsonl") == LTX23_DESIGN_NOTES


def test_measurements_replace_the_design_notes_figures_and_say_where_they_come_from(tmp_path, monkeypatch):
    bench = ltx23_benchmark(_write(tmp_path, SESSION))
    assert bench.source.startswith("our trainer measured on NVIDIA H100 80GB HBM3, 5 runs")
    assert "recipe notes" not in bench.source
    # The run keeps the connectors and VAEs beside the measured transformer.
    assert bench.base_memory_gib == pytest.approx(36.0 + estimates.LTX23_OTHER_GIB + estimates.RUNTIME_ALLOWANCE_GIB)
    monkeypatch.setitem(estimates.BENCHMARKS, "ltx-2.3", bench)
    tokens = latent_tokens(768, 448, 81)
    run = estimate("ltx-2.3", 768, 448, 81, 1, 32, 1000, 0)
    assert dict(run.stage_seconds)["step"] == pytest.approx(1000 * 2e-4 * tokens**1.2)
    assert run.memory_gib == pytest.approx(bench.base_memory_gib + tokens * 1.5 / 1024 + LORA_PER_RANK * 32 * 16 / GIB)
    int8 = estimate("ltx-2.3", 768, 448, 81, 1, 32, 1000, 0, int8=True)
    assert dict(int8.stage_seconds)["step"] == pytest.approx(dict(run.stage_seconds)["step"] * 1.3)
    assert run.memory_gib - int8.memory_gib == pytest.approx(17.5)
    assert "steps take 1.3× as long" in int8.source


def test_what_the_measurements_leave_out_still_comes_from_the_design_notes(tmp_path):
    bench = ltx23_benchmark(_write(tmp_path, [_line(768, 448, 121, layers=24), _line(512, 288, 49, layers=24)]))
    assert bench.memory_per_token_mib == LTX23_DESIGN_NOTES.memory_per_token_mib
    assert bench.int8_saving_gib == LTX23_DESIGN_NOTES.int8_saving_gib
    assert bench.source.endswith("memory from the recipe notes (1–2 h for 2000–3000 steps on 80 GB)")
    assert math.isclose(bench.time_exponent, 1.2)


def test_the_committed_measurements_if_any_are_what_the_wizard_uses():
    expected = ltx23_benchmark(MEASUREMENTS) if read_lines(MEASUREMENTS) else LTX23_DESIGN_NOTES
    assert estimates.BENCHMARKS["ltx-2.3"] == expected
