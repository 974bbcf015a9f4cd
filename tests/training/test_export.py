"""The adapter file: ComfyUI/ltx-trainer keys, bf16, alpha baked, metadata (the base model included); loads in a fresh
pipeline. Every test runs on the tiny model of each base (LTX-2.3 and LTX-2.5)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from engine.config import LORA_TARGETS
from engine.dataset import Bucket
from engine.export import AdapterError, read_adapter
from engine.loader import load_pipeline
from engine.sample import generate
from engine.tiny_model import TINY_LAYERS
from engine.train import TrainResult, train
from tests.training.conftest import TINY_BASES

BUCKET = Bucket(128, 128, 17, 24.0)


@pytest.fixture(scope="module", params=TINY_BASES)
def base(request: pytest.FixtureRequest) -> str:
    """The base whose tiny model this module's tests train and read adapters on."""
    return str(request.param)


@pytest.fixture(scope="module")
def tiny_model_dir(base: str, tiny_model_dirs: Callable[[str], Path]) -> Path:
    """conftest's `tiny_model_dir`, of the module's base."""
    return tiny_model_dirs(base)


@pytest.fixture
def load_tiny(tiny_model_dir: Path) -> Callable[[], Any]:
    """conftest's `load_tiny`, of the module's base."""
    return lambda: load_pipeline(tiny_model_dir, device="cpu")


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path, three_pairs: Path, raw_config: Any
) -> tuple[Any, TrainResult]:
    """A short run with rank 8, alpha 16 (so alpha must be baked), reference downscale 2 and a trigger."""
    from engine.config import TrainConfig

    raw = raw_config(
        tmp_path_factory.mktemp("export"),
        three_pairs,
        tiny_model_dir,
        bucket={"width": 128, "height": 128},
        data={"reference_downscale_factor": 2, "trigger": "RESTORE"},
        lora={"rank": 8, "alpha": 16},
        optim={"steps": 12, "learning_rate": 5e-3},
        export={"name": "restore", "recipe": "restore"},
    )
    cfg = TrainConfig.model_validate(raw)
    return cfg, train(cfg)


def test_the_adapter_file_has_comfyui_keys_bf16_and_no_alpha(trained: tuple[Any, TrainResult]) -> None:
    _, result = trained
    tensors = load_file(str(result.adapter_path))
    expected = {
        f"diffusion_model.transformer_blocks.{i}.{m}.lora_{ab}.weight"
        for i in range(TINY_LAYERS)
        for m in LORA_TARGETS
        for ab in "AB"
    }
    assert set(tensors) == expected
    assert {v.dtype for v in tensors.values()} == {torch.bfloat16}
    a = tensors["diffusion_model.transformer_blocks.0.attn1.to_q.lora_A.weight"]
    b = tensors["diffusion_model.transformer_blocks.0.attn1.to_q.lora_B.weight"]
    assert a.shape == (8, 128) and b.shape == (128, 8)


def test_alpha_over_rank_is_baked_into_lora_b(trained: tuple[Any, TrainResult]) -> None:
    _, result = trained
    exported = load_file(str(result.adapter_path))
    checkpoint = load_file(str(result.checkpoints[-1] / "adapter.safetensors"))  # fp32, unscaled, peft names
    key = "transformer_blocks.2.ff.net.2.lora_B.weight"
    assert torch.allclose(exported[f"diffusion_model.{key}"].float(), 2.0 * checkpoint[key], rtol=1e-2, atol=1e-6)
    key_a = "transformer_blocks.2.ff.net.2.lora_A.weight"
    assert torch.allclose(exported[f"diffusion_model.{key_a}"].float(), checkpoint[key_a], rtol=1e-2, atol=1e-6)


def test_the_metadata_tells_a_user_and_comfyui_what_they_need(trained: tuple[Any, TrainResult], base: str) -> None:
    cfg, result = trained
    with safe_open(str(result.adapter_path), "pt") as f:
        meta = f.metadata()
    assert meta["reference_downscale_factor"] == "2" and meta["reference_temporal_scale_factor"] == "1"
    assert meta["base_model"] == "model" and meta["base"] == base and meta["rank"] == "8" and meta["alpha"] == "16.0"
    assert meta["recipe"] == "restore" and meta["trigger"] == "RESTORE"
    assert meta["bucket"] == "128x128x17@24" and meta["steps"] == "12"
    assert meta["config_hash"] == cfg.config_hash() and len(meta["config_hash"]) == 12


def test_a_fresh_pipeline_loads_the_file_and_its_output_changes(
    trained: tuple[Any, TrainResult], load_tiny: Any
) -> None:
    _, result = trained
    reference = (np.random.default_rng(0).random((17, 64, 64, 3)) * 255).astype(np.uint8)
    pipe = load_tiny()
    before = generate(
        pipe, reference, BUCKET, downscale=2, prompt="RESTORE a clip", num_inference_steps=3, max_sequence_length=32
    )
    assert result.adapter_path is not None
    info = read_adapter(result.adapter_path, pipe.transformer)
    pipe.load_lora_weights(str(result.adapter_path), adapter_name="restore")
    after = generate(
        pipe,
        reference,
        BUCKET,
        downscale=info.reference_downscale_factor,
        prompt="RESTORE a clip",
        num_inference_steps=3,
        max_sequence_length=32,
    )
    off = generate(
        pipe,
        reference,
        BUCKET,
        downscale=2,
        prompt="RESTORE a clip",
        num_inference_steps=3,
        max_sequence_length=32,
        lora_scale=0.0,
    )

    assert after.shape == before.shape == (17, 128, 128, 3)
    assert np.abs(after - before).mean() > 1e-3  # the adapter is applied
    assert np.abs(off - before).max() < 1e-5  # and scale 0 switches it off again
    peft_modules = [n for n, _ in pipe.transformer.named_modules() if n.endswith("lora_A.restore")]
    assert len(peft_modules) == TINY_LAYERS * len(LORA_TARGETS)


def test_read_adapter_summarises_a_valid_file(trained: tuple[Any, TrainResult], load_tiny: Any, base: str) -> None:
    _, result = trained
    assert result.adapter_path is not None
    info = read_adapter(result.adapter_path, load_tiny().transformer)
    assert (info.rank, info.blocks, info.dtype, info.base) == (8, list(range(TINY_LAYERS)), "bfloat16", base)
    assert info.modules == sorted(LORA_TARGETS) and info.reference_downscale_factor == 2
    assert info.trigger == "RESTORE" and info.notes == []


def _rewrite(src: Path, dst: Path, rename: Any = None, reshape: Any = None, metadata: Any = None) -> Path:
    tensors = load_file(str(src))
    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
    out = {}
    for k, v in tensors.items():
        k2 = rename(k) if rename else k
        out[k2] = reshape(k2, v) if reshape else v
    save_file(out, str(dst), metadata=metadata if metadata is not None else meta)
    return dst


def test_read_adapter_rejects_files_diffusers_would_choke_on_or_ignore(
    trained: tuple[Any, TrainResult], load_tiny: Any, tmp_path: Path
) -> None:
    _, result = trained
    src = result.adapter_path
    assert src is not None
    kohya = _rewrite(src, tmp_path / "kohya.safetensors", rename=lambda k: k.replace("lora_A", "lora_down"))
    with pytest.raises(AdapterError, match="kohya-style keys"):
        read_adapter(kohya)
    bare = _rewrite(src, tmp_path / "bare.safetensors", rename=lambda k: k.removeprefix("diffusion_model."))
    with pytest.raises(AdapterError, match=r"lacks the diffusion_model\. prefix"):
        read_adapter(bare)
    text = tmp_path / "notes.safetensors"
    text.write_text("hello")
    with pytest.raises(AdapterError, match="not a safetensors file"):
        read_adapter(text)


def test_read_adapter_rejects_an_adapter_made_for_another_model(
    trained: tuple[Any, TrainResult], load_tiny: Any, tmp_path: Path
) -> None:
    _, result = trained
    assert result.adapter_path is not None

    def widen(key: str, value: torch.Tensor) -> torch.Tensor:
        return torch.zeros(value.shape[0], 4096, dtype=value.dtype) if "lora_A" in key else value

    other = _rewrite(result.adapter_path, tmp_path / "other.safetensors", reshape=widen)
    read_adapter(other)  # fine on its own
    with pytest.raises(AdapterError, match=r"base model has 128x128 .*another model"):
        read_adapter(other, load_tiny().transformer)


def test_an_adapter_without_downscale_metadata_is_read_as_factor_1_with_a_note(
    trained: tuple[Any, TrainResult], tmp_path: Path
) -> None:
    _, result = trained
    assert result.adapter_path is not None
    plain = _rewrite(result.adapter_path, tmp_path / "plain.safetensors", metadata={})
    info = read_adapter(plain)
    assert info.reference_downscale_factor == 1 and info.notes == [
        "no reference_downscale_factor in metadata; assuming 1"
    ]


def test_an_adapter_says_at_which_frame_rate_its_reference_runs_and_a_bad_value_is_refused(
    trained: tuple[Any, TrainResult], tmp_path: Path
) -> None:
    _, result = trained
    assert result.adapter_path is not None
    tensors = load_file(str(result.adapter_path))
    with safe_open(str(result.adapter_path), "pt") as f:
        meta = dict(f.metadata() or {})
    assert read_adapter(result.adapter_path).reference_temporal_scale_factor == 1
    half_rate = tmp_path / "half_rate.safetensors"
    save_file(tensors, str(half_rate), metadata={**meta, "reference_temporal_scale_factor": "2"})
    assert read_adapter(half_rate).reference_temporal_scale_factor == 2
    older = tmp_path / "older.safetensors"  # adapters from before the factor existed, and other trainers'
    save_file(tensors, str(older), metadata={k: v for k, v in meta.items() if k != "reference_temporal_scale_factor"})
    assert read_adapter(older).reference_temporal_scale_factor == 1
    bad = tmp_path / "bad.safetensors"
    save_file(tensors, str(bad), metadata={**meta, "reference_temporal_scale_factor": "half"})
    with pytest.raises(AdapterError, match="reference_temporal_scale_factor 'half' is not a number"):
        read_adapter(bad)
