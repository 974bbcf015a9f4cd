"""The tiny preset is a real diffusers LTX-2 pipeline, built deterministically and loaded like the real one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import LTX2InContextPipeline
from safetensors.torch import load_file

from engine.loader import ModelPaths, ModelPathsError, load_pipeline, pick_device_and_dtype, resolve_model
from engine.tiny_model import build_tiny_model


def test_the_tiny_model_folder_loads_with_from_pretrained(tiny_model_dir: Path) -> None:
    pipe = LTX2InContextPipeline.from_pretrained(tiny_model_dir)
    assert pipe.vae_spatial_compression_ratio == 32 and pipe.vae_temporal_compression_ratio == 8
    params = sum(p.numel() for p in pipe.transformer.parameters())
    assert 1_000_000 < params < 2_500_000
    # VAE statistics were calibrated, not left at the defaults 0 / 1.
    assert not torch.allclose(pipe.vae.latents_mean, torch.zeros_like(pipe.vae.latents_mean))
    assert not torch.allclose(pipe.vae.latents_std, torch.ones_like(pipe.vae.latents_std))
    assert json.loads((tiny_model_dir / "iclora_preset.json").read_text())["preset"] == "tiny"


def test_the_tiny_vae_compresses_like_the_real_one(load_tiny: Any) -> None:
    pipe = load_tiny()
    video = torch.rand(1, 3, 17, 64, 96) * 2 - 1
    with torch.no_grad():
        latents = pipe.vae.encode(video).latent_dist.mode()
    assert latents.shape[2:] == (3, 2, 3)  # (17-1)/8+1 frames, 64/32, 96/32


def test_building_the_tiny_model_twice_gives_identical_weights(tiny_model_dir: Path, tmp_path: Path) -> None:
    again = build_tiny_model(tmp_path / "again")
    for part in ("transformer", "vae", "connectors"):
        a = load_file(str(next((tiny_model_dir / part).glob("*.safetensors"))))
        b = load_file(str(next((again / part).glob("*.safetensors"))))
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), part


def test_cpu_runs_in_float32_and_cuda_in_bfloat16() -> None:
    assert pick_device_and_dtype("cpu") == (torch.device("cpu"), torch.float32)
    assert pick_device_and_dtype("cuda") == (torch.device("cuda"), torch.bfloat16)


def test_load_pipeline_takes_a_folder_or_explicit_paths_and_can_leave_the_text_encoder_out(
    tiny_model_dir: Path,
) -> None:
    pipe = load_pipeline(ModelPaths(path=tiny_model_dir), device="cpu", with_text_encoder=False)
    assert pipe.text_encoder is None and pipe.transformer.dtype == torch.float32
    assert load_pipeline(tiny_model_dir, device="cpu").iclora_model_name == "tiny"


def test_the_real_model_preset_without_operator_paths_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LTX_MODEL_PATH", raising=False)
    with pytest.raises(ModelPathsError, match="LTX_MODEL_PATH is not set"):
        resolve_model("ltx-2.3")
    with pytest.raises(ModelPathsError, match="model is /nonexistent/model, but nothing is there"):
        resolve_model("/nonexistent/model")


def test_the_real_model_preset_reads_the_web_apps_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "dev.safetensors").write_bytes(b"")
    (tmp_path / "gemma").mkdir()
    (tmp_path / "gemma" / "config.json").write_text("{}")
    monkeypatch.setenv("LTX_MODEL_PATH", str(tmp_path / "dev.safetensors"))
    monkeypatch.setenv("LTX_TEXT_ENCODER_PATH", str(tmp_path / "gemma"))
    paths = resolve_model("ltx-2.3")
    assert paths == ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tmp_path / "gemma", name="ltx-2.3")
    monkeypatch.delenv("LTX_TEXT_ENCODER_PATH")
    with pytest.raises(ModelPathsError, match="set LTX_TEXT_ENCODER_PATH to the Gemma-3 folder"):
        resolve_model("ltx-2.3")
    (tmp_path / "ltx" / "model_index.json").parent.mkdir()
    (tmp_path / "ltx" / "model_index.json").write_text("{}")
    monkeypatch.setenv("LTX_MODEL_PATH", str(tmp_path / "ltx"))
    assert resolve_model("ltx-2.3") == ModelPaths(path=tmp_path / "ltx", name="ltx-2.3")


def test_every_stage_of_the_training_load_keeps_the_asked_precision(tiny_model_dir: Path) -> None:
    # On CUDA training asks for bf16: a stage that fell back to fp32 would need twice the memory (88 GB for the
    # real transformer).
    from engine.loader import attach_transformer, ensure_text_encoder, load_transformer

    pipe = load_pipeline(tiny_model_dir, device="cpu", dtype=torch.bfloat16, with_text_encoder=False,
                         with_transformer=False)
    assert ensure_text_encoder(pipe).dtype == torch.bfloat16 and pipe.vae.dtype == torch.bfloat16
    attach_transformer(pipe, load_transformer(pipe.iclora_paths, torch.bfloat16))
    assert pipe.transformer.dtype == torch.bfloat16 and pipe.connectors.dtype == torch.bfloat16
