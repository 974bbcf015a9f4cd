"""Two base models, LTX-2.3 and LTX-2.5: the registry says what differs and where it comes from, the tiny models are
built from the same classes with each base's switches, the loader tells the bases apart by their files (refusing a
file set as the other base, or the wrong text encoder), Lightricks' single file of either base loads through one code
path, and adapters record their base and are refused on the other.

The step-equals-pipeline tests (test_step.py), the adapter round trip (test_export.py) and the resume test
(test_train.py) run on both tiny bases.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from diffusers import LTX2InContextPipeline
from pydantic import ValidationError
from safetensors import safe_open

from engine.bases import BASES, LTX23, LTX25, SWITCHES, Base, base_of_switches, connector_sizes, get_base
from engine.buckets import Bucket
from engine.config import DiffusionConfig, LoraConfig, OptimConfig, TrainConfig
from engine.export import AdapterError, export_adapter, read_adapter
from engine.loader import base_of, encoding_name, load_pipeline, resolve_model
from engine.lora import add_lora
from engine.model_paths import ModelPaths, ModelPathsError, environment_names
from engine.single_file import COMPONENTS, LTX23_CONFIGS, checkpoint_switches, read_header
from tests.training.test_model_paths import lightricks_tensors, write_checkpoint
from training.cli import main as cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny25(tiny_model_dirs: Callable[[str], Path]) -> Path:
    return tiny_model_dirs("ltx-2.5")


@pytest.fixture(scope="module")
def tiny25_single_file(tiny25: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny LTX-2.5 model written back into Lightricks' single-file layout (as test_model_paths does for 2.3)."""
    pipe = LTX2InContextPipeline.from_pretrained(tiny25)
    return write_checkpoint(lightricks_tensors(pipe), tmp_path_factory.mktemp("single25") / "tiny-2.5-dev.safetensors")


# --- The registry


def test_the_registry_says_what_ltx_2_5_changes_and_where_each_fact_comes_from() -> None:
    assert list(BASES) == ["ltx-2.3", "ltx-2.5"] and get_base("ltx-2.5") is LTX25
    changed = {key for key in SWITCHES if LTX23.transformer[key] != LTX25.transformer[key]}
    assert changed == {"ff_bias", "use_keyframes_abs_pos_embedding"}  # diffusers' conversion script, version 2.5
    assert LTX25.transformer["use_prompt_adaln_single"] and LTX25.transformer["audio_ff_bias"]
    assert (LTX23.text_encoder.family, LTX25.text_encoder.family) == ("gemma3", "gemma4_unified")
    assert LTX23.shapes == LTX25.shapes and LTX23.training == LTX25.training  # ltx-trainer: one schema for both
    assert (LTX23.image_crf, LTX25.image_crf) == (33, 18)
    assert LTX25.environment == ("LTX25_MODEL_PATH", "LTX25_TEXT_ENCODER_PATH", "LTX25_DISTILLED_MODEL_PATH")
    for base in BASES.values():
        assert base.transformer_source and base.text_encoder.source and base.shapes.source and base.training.source
    with pytest.raises(ValueError, match="unknown base model 'ltx-3'"):
        get_base("ltx-3")
    with pytest.raises(ValidationError, match="colour"):  # every record is strict: no fact slips in unchecked
        Base.model_validate({**LTX25.model_dump(), "colour": "red"})


def test_a_transformer_config_tells_its_base_and_one_without_the_switches_is_ltx_2_3() -> None:
    shipped = json.loads((LTX23_CONFIGS / "transformer" / "config.json").read_text())
    assert base_of_switches(shipped) is LTX23
    assert base_of_switches({}) is LTX23  # as ltx-core reads checkpoints from before 2.5
    assert base_of_switches({"ff_bias": False}) is LTX25  # 2.5.0: no keyframe embedding yet
    assert base_of_switches(LTX25.transformer) is LTX25


def test_every_bases_buckets_follow_the_rules_the_engine_checks() -> None:
    """The frame and size rules are the same for both bases: the one Bucket check serves both, and a base with other
    rules would fail here before training with a wrong shape."""
    for base in BASES.values():
        rules = base.shapes
        Bucket(rules.spatial_compression * 24, rules.spatial_compression * 14, rules.temporal_compression * 15 + 1,
               24.0).check()
        with pytest.raises(ValueError, match="multiple of 32"):
            Bucket(rules.spatial_compression * 24 + 16, 448, 121, 24.0).check()
        with pytest.raises(ValueError, match="8n\\+1"):
            Bucket(768, 448, rules.temporal_compression * 15, 24.0).check()
        assert rules.latent_shape(121, 448, 768) == (16, 14, 24)


def test_every_bases_training_defaults_are_the_configs_defaults() -> None:
    for base in BASES.values():
        defaults = base.training
        assert (LoraConfig().rank, OptimConfig().learning_rate, OptimConfig().steps) == (
            defaults.rank, defaults.learning_rate, defaults.steps)
        assert (DiffusionConfig().first_frame_conditioning_p, DiffusionConfig().audio) == (
            defaults.first_frame_conditioning_p, defaults.audio)


def test_connectors_are_sized_from_the_text_encoders_config() -> None:
    gemma3_12b = {"model_type": "gemma3", "text_config": {"hidden_size": 3840, "num_hidden_layers": 48}}
    shipped = json.loads((LTX23_CONFIGS / "connectors" / "config.json").read_text())
    assert connector_sizes(gemma3_12b) == {k: shipped[k] for k in ("caption_channels", "text_proj_in_factor")}
    assert connector_sizes({"hidden_size": 64, "num_hidden_layers": 3}) == {"caption_channels": 64,
                                                                           "text_proj_in_factor": 4}


# --- The tiny models


def test_both_tiny_models_are_the_same_classes_with_each_bases_switches_and_text_encoder(
    tiny_model_dir: Path, tiny25: Path
) -> None:
    pipes = {base: load_pipeline(folder, device="cpu") for base, folder in (("ltx-2.3", tiny_model_dir),
                                                                           ("ltx-2.5", tiny25))}
    for name, pipe in pipes.items():
        base = BASES[name]
        assert pipe.iclora_base == name and base_of(pipe.iclora_paths) is base
        assert {key: pipe.transformer.config[key] for key in SWITCHES} == base.transformer
        assert type(pipe.text_encoder).__name__ == base.text_encoder.class_name
        assert pipe.text_encoder.config.model_type == base.text_encoder.family
        assert (pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio) == (
            base.shapes.spatial_compression, base.shapes.temporal_compression)
        video = torch.rand(1, 3, 17, 64, 96) * 2 - 1
        with torch.no_grad():
            latents = pipe.vae.encode(video).latent_dist.mode()
        assert latents.shape[2:] == base.shapes.latent_shape(17, 64, 96)
    names = {name: set(pipe.transformer.state_dict()) for name, pipe in pipes.items()}
    assert "keyframes_abs_pos_embedding" in names["ltx-2.5"] - names["ltx-2.3"]
    assert "transformer_blocks.0.ff.net.0.proj.bias" in names["ltx-2.3"] - names["ltx-2.5"]
    assert "transformer_blocks.0.audio_ff.net.0.proj.bias" in names["ltx-2.5"]
    # The two bases' captions are cached apart: Gemma 3 and Gemma 4 embeddings mean different things.
    assert encoding_name(pipes["ltx-2.3"]) == "tiny" and encoding_name(pipes["ltx-2.5"]) == "tiny+ltx-2.5"


def test_the_command_line_builds_the_tiny_model_of_a_base(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["build-tiny-model", "--base", "ltx-2.5", str(tmp_path / "tiny25")]) == 0
    assert "tiny LTX-2 pipeline written" in capsys.readouterr().out
    marker = json.loads((tmp_path / "tiny25" / "iclora_preset.json").read_text())
    assert (marker["preset"], marker["base"]) == ("tiny", "ltx-2.5")
    config = json.loads((tmp_path / "tiny25" / "transformer" / "config.json").read_text())
    assert base_of_switches(config) is LTX25
    with pytest.raises(SystemExit):
        cli(["build-tiny-model", "--base", "ltx-3", str(tmp_path / "nope")])


# --- Loading: presets, single files, checks


def test_the_ltx_2_5_preset_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LTX25_MODEL_PATH", raising=False)
    with pytest.raises(ModelPathsError, match=r"ltx-2.5 preset .* LTX25_MODEL_PATH is not set"):
        resolve_model("ltx-2.5")
    (tmp_path / "dev.safetensors").write_bytes(b"")
    monkeypatch.setenv("LTX25_MODEL_PATH", str(tmp_path / "dev.safetensors"))
    monkeypatch.delenv("LTX25_TEXT_ENCODER_PATH", raising=False)
    with pytest.raises(ModelPathsError, match=r"set LTX25_TEXT_ENCODER_PATH to the Gemma-3 folder .*Gemma 4"):
        resolve_model("ltx-2.5")
    (tmp_path / "gemma4").mkdir()
    (tmp_path / "gemma4" / "config.json").write_text("{}")
    monkeypatch.setenv("LTX25_TEXT_ENCODER_PATH", str(tmp_path / "gemma4"))
    assert resolve_model("ltx-2.5") == ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tmp_path / "gemma4",
                                                  name="ltx-2.5")
    assert environment_names("ltx-2.5").path == "LTX25_MODEL_PATH"


def test_an_ltx_2_5_single_file_loads_exactly_the_folders_weights_with_its_switches_read_from_its_tensors(
    tiny25: Path, tiny25_single_file: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """The configs given are LTX-2.3's (the tiny 2.3 folder's), with connectors sized for another text encoder: the
    transformer's switches come from the file's tensors and the connectors' sizes from the Gemma 4 config, as for the
    real LTX-2.5 file read with the shipped LTX-2.3 configs."""
    configs = tmp_path / "configs"  # and the tokenizer, which Lightricks' layout keeps in the text-encoder folder
    for name in ("transformer", "connectors", "vae", "audio_vae", "vocoder", "scheduler", "tokenizer"):
        shutil.copytree(tiny_model_dir / name, configs / name, ignore=shutil.ignore_patterns("*.safetensors"))
    connectors = json.loads((configs / "connectors" / "config.json").read_text())
    (configs / "connectors" / "config.json").write_text(json.dumps(connectors | {"caption_channels": 3840,
                                                                                 "text_proj_in_factor": 49}))
    shapes, _ = read_header(tiny25_single_file)
    assert checkpoint_switches(shapes) == LTX25.transformer

    paths = ModelPaths(path=tiny25_single_file, text_encoder=tiny25 / "text_encoder", config=configs, name="ltx-2.5")
    single = load_pipeline(paths, device="cpu")
    folder = load_pipeline(tiny25, device="cpu")
    assert single.iclora_base == "ltx-2.5"
    for component in COMPONENTS:
        want, got = getattr(folder, component).state_dict(), getattr(single, component).state_dict()
        assert want.keys() == got.keys(), component
        assert all(torch.equal(want[key], got[key]) for key in want), component


def test_a_file_of_one_base_given_as_the_other_or_with_the_wrong_text_encoder_is_refused_naming_the_setting(
    tiny25: Path, tiny25_single_file: Path, tiny_model_dir: Path
) -> None:
    as_23 = ModelPaths(path=tiny25_single_file, text_encoder=tiny25 / "text_encoder", config=tiny_model_dir,
                       name="ltx-2.3")
    with pytest.raises(ModelPathsError, match=r"LTX_MODEL_PATH is .*an LTX-2.5 model .* set it as LTX25_MODEL_PATH"):
        base_of(as_23, environment_names("ltx-2.3"))
    gemma3 = ModelPaths(path=tiny25_single_file, text_encoder=tiny_model_dir / "text_encoder", config=tiny_model_dir,
                        name="ltx-2.5")
    with pytest.raises(ModelPathsError, match=r"LTX25_TEXT_ENCODER_PATH is .* a gemma3 text encoder, but LTX-2.5"):
        load_pipeline(gemma3, device="cpu", names=environment_names("ltx-2.5"))
    with pytest.raises(ModelPathsError, match=r"an LTX-2.3 model by its transformer, but it is given as LTX-2.5"):
        base_of(ModelPaths(path=tiny_model_dir, name="ltx-2.5"))


# --- Adapters


def test_an_adapter_records_its_base_and_is_refused_on_the_other_bases_transformer(
    tiny_model_dir: Path, tiny25: Path, three_pairs: Path, raw_config: Any, tmp_path: Path
) -> None:
    """The two bases' transformers have the same modules and shapes: only the recorded base tells them apart."""
    transformers = {name: load_pipeline(folder, device="cpu").transformer
                    for name, folder in (("ltx-2.3", tiny_model_dir), ("ltx-2.5", tiny25))}
    for name, folder in (("ltx-2.3", tiny_model_dir), ("ltx-2.5", tiny25)):
        cfg = TrainConfig.model_validate(raw_config(tmp_path / name, three_pairs, folder))
        trained = load_pipeline(folder, device="cpu").transformer
        add_lora(trained, cfg.lora.rank, cfg.lora.effective_alpha, cfg.lora.targets)
        path = export_adapter(trained, tmp_path / f"{name}.safetensors", cfg, steps=1)
        with safe_open(str(path), "pt") as f:
            assert f.metadata()["base"] == name
        assert read_adapter(path, transformers[name]).base == name
        other = "ltx-2.5" if name == "ltx-2.3" else "ltx-2.3"
        with pytest.raises(AdapterError, match=f"trained for {name}, but this base model is {other}"):
            read_adapter(path, transformers[other])


# --- Settings


def test_ltx_2_5_settings_without_its_model_path_stop_the_app_naming_them() -> None:
    environ = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    done = subprocess.run([sys.executable, "-m", "config.stack", "--check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**environ, "LTX25_TEXT_ENCODER_PATH": "/models/gemma4",
                                           "LTX25_MODEL_PATH": ""})
    assert done.returncode == 2
    assert "LTX25_TEXT_ENCODER_PATH is set but LTX25_MODEL_PATH is not" in done.stderr
    listed = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(','.join(settings.MODEL_BASES))"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**environ, "DJANGO_SETTINGS_MODULE": "config.settings", "LTX_MODEL_PATH": "",
             "LTX25_MODEL_PATH": "/models/ltx-2.5"})
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == "ltx-2.5"
