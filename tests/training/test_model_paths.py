"""Model paths, one way in: Lightricks' single-file checkpoints load to exactly the weights of the diffusers
folder, the shipped LTX-2.3 configs have the real checkpoint's sizes, and every setting or YAML `model:` becomes
one `ModelPaths` whose errors name the setting to change.

The single-file tests write the tiny model back into Lightricks' original key layout (the inverse of the
product's rename table, checked to round-trip) and load it through `load_pipeline`. No real weights are used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from engine import single_file
from engine.config import load_config
from engine.dataset import Bucket
from engine.loader import attach_transformer, ensure_text_encoder, load_pipeline, load_transformer, release_text_encoder
from engine.model_paths import ModelPaths, ModelPathsError, PathNames, check_model_paths, model_label
from engine.sample import generate
from engine.single_file import COMPONENTS, LTX23_CONFIGS, SingleFileError, to_diffusers


def to_original(component: str, key: str) -> str:
    """The Lightricks name of a diffusers key: the product's rename table read backwards."""
    backwards = tuple((new, old) for old, new in single_file.RENAMES[component])
    original = single_file.PREFIXES[component] + single_file.rename_segments(key, backwards)
    assert single_file.component_of(original) == component and to_diffusers(component, original) == key, key
    return original


def lightricks_tensors(pipe: Any) -> dict[str, torch.Tensor]:
    """Every weight a Lightricks single file holds (all but the text encoder's), under Lightricks' names."""
    return {
        to_original(component, key): tensor.contiguous()
        for component in COMPONENTS
        for key, tensor in getattr(pipe, component).state_dict().items()
    }


def write_checkpoint(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    save_file(tensors, str(path), metadata={"model_version": "tiny"})
    return path


@pytest.fixture(scope="module")
def tiny_single_file(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from diffusers import LTX2InContextPipeline

    pipe = LTX2InContextPipeline.from_pretrained(tiny_model_dir)
    return write_checkpoint(lightricks_tensors(pipe), tmp_path_factory.mktemp("single") / "tiny-dev.safetensors")


@pytest.fixture(scope="module")
def ltx23_models() -> dict[str, Any]:
    """The shipped LTX-2.3 configs built with no weights (meta device): names and shapes only."""
    return {component: single_file.empty_component(component, LTX23_CONFIGS) for component in COMPONENTS}


def tiny_files(tiny_model_dir: Path, checkpoint: Path) -> ModelPaths:
    return ModelPaths(path=checkpoint, text_encoder=tiny_model_dir / "text_encoder", config=tiny_model_dir)


# --- The single file


def test_the_written_file_has_lightricks_names(tiny_single_file: Path) -> None:
    shapes, _ = single_file.read_header(tiny_single_file)
    for key in (  # as ltx-core's loaders (SDOps in packages/ltx-core) and module attributes name them
        "model.diffusion_model.adaln_single.linear.weight",
        "model.diffusion_model.prompt_adaln_single.linear.weight",
        "model.diffusion_model.patchify_proj.weight",
        "model.diffusion_model.transformer_blocks.0.attn1.q_norm.weight",
        "model.diffusion_model.transformer_blocks.0.scale_shift_table_a2v_ca_video",
        "model.diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.k_norm.weight",
        "text_embedding_projection.video_aggregate_embed.weight",
        "vae.encoder.down_blocks.8.res_blocks.0.conv1.conv.weight",
        "vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.weight",
        "vae.per_channel_statistics.mean-of-means",
        "audio_vae.per_channel_statistics.std-of-means",
        "vocoder.conv_pre.weight",
        "vocoder.ups.0.weight",
    ):
        assert key in shapes, key


def test_a_single_file_loads_exactly_the_weights_of_the_folder_model(
    tiny_model_dir: Path, tiny_single_file: Path, load_tiny: Any
) -> None:
    folder = load_tiny()
    single = load_pipeline(tiny_files(tiny_model_dir, tiny_single_file), device="cpu")
    for component in COMPONENTS:
        want, got = getattr(folder, component).state_dict(), getattr(single, component).state_dict()
        assert want.keys() == got.keys(), component
        assert all(torch.equal(want[key], got[key]) for key in want), component
    assert single.tokenizer("a red car").input_ids == folder.tokenizer("a red car").input_ids

    reference = np.random.default_rng(0).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    bucket = Bucket(64, 64, 9, 24.0)
    same: dict[str, Any] = {"prompt": "a red car", "num_inference_steps": 2, "seed": 3, "max_sequence_length": 32}
    in_fresh_memory(folder)
    assert np.array_equal(generate(folder, reference, bucket, **same), generate(single, reference, bucket, **same))


@pytest.mark.parametrize("layout", ["folder", "single file"])
def test_training_loads_the_encoders_first_and_the_transformer_after_the_text_encoder_is_gone(
    layout: str, tiny_model_dir: Path, tiny_single_file: Path, load_tiny: Any
) -> None:
    spec = ModelPaths(path=tiny_model_dir) if layout == "folder" else tiny_files(tiny_model_dir, tiny_single_file)
    whole = load_tiny()
    pipe = load_pipeline(spec, device="cpu", with_text_encoder=False, with_transformer=False)
    assert pipe.transformer is None and pipe.text_encoder is None

    encoder = ensure_text_encoder(pipe)
    assert ensure_text_encoder(pipe) is encoder  # loaded once
    want, got = whole.text_encoder.state_dict(), encoder.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    release_text_encoder(pipe)
    assert pipe.text_encoder is None

    transformer = load_transformer(pipe.iclora_paths, torch.float32)
    attach_transformer(pipe, transformer)
    assert pipe.components["transformer"] is transformer
    want, got = whole.transformer.state_dict(), transformer.state_dict()
    assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want)
    assert (pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size) == (
        whole.transformer_spatial_patch_size, whole.transformer_temporal_patch_size)


def in_fresh_memory(pipe: Any) -> None:
    """Copy the weights out of the file mapping `from_pretrained` leaves them in.

    Mapped tensors can start at unaligned addresses, and CPU kernels then add in another order: the same weights
    gave outputs 1e-6 apart. The single-file loader copies its tensors, so only this makes the comparison exact.
    """
    for component in (*COMPONENTS, "text_encoder"):
        module = getattr(pipe, component)
        for tensor in (*module.parameters(), *module.buffers()):
            tensor.data = tensor.data.clone()


def test_a_file_that_does_not_fit_the_configs_is_refused_before_any_weight_is_read(
    tiny_model_dir: Path, tiny_single_file: Path, tmp_path: Path
) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(tiny_single_file))
    del tensors["model.diffusion_model.prompt_adaln_single.linear.weight"]
    tensors["model.diffusion_model.caption_projection.linear_1.weight"] = torch.zeros(2, 2)
    tensors["vae.decoder.conv_in.conv.bias"] = torch.zeros(3)
    broken = write_checkpoint(tensors, tmp_path / "broken.safetensors")
    with pytest.raises(SingleFileError) as refused:
        load_pipeline(tiny_files(tiny_model_dir, broken), device="cpu")
    message = str(refused.value)
    assert "its transformer lacks 1 weight(s) the configs need: prompt_adaln.linear.weight" in message
    assert "no place for: model.diffusion_model.caption_projection.linear_1.weight" in message
    assert "vae.decoder.conv_in.conv.bias is [3], not [" in message

    transformer_only = {key: t for key, t in tensors.items() if key.startswith("model.diffusion_model.")}
    with pytest.raises(SingleFileError, match=r"it holds no video VAE \(vae\.\*\)"):
        single_file.check(write_checkpoint(transformer_only, tmp_path / "dit.safetensors"), tiny_model_dir)


# --- The rename table against its sources


def test_lightricks_names_map_as_ltx_core_and_diffusers_conversion_name_them() -> None:
    # Real LTX-2.3 names from ltx-core (model attributes, SDOps) and the mappings of diffusers' conversion script.
    pairs = {
        "model.diffusion_model.prompt_adaln_single.linear.weight": ("transformer", "prompt_adaln.linear.weight"),
        "model.diffusion_model.audio_prompt_adaln_single.emb.timestep_embedder.linear_1.bias": (
            "transformer", "audio_prompt_adaln.emb.timestep_embedder.linear_1.bias"),
        "model.diffusion_model.av_ca_a2v_gate_adaln_single.linear.weight": (
            "transformer", "av_cross_attn_video_a2v_gate.linear.weight"),
        "model.diffusion_model.transformer_blocks.7.attn2.to_gate_logits.weight": (
            "transformer", "transformer_blocks.7.attn2.to_gate_logits.weight"),
        "model.diffusion_model.audio_embeddings_connector.learnable_registers": (
            "connectors", "audio_connector.learnable_registers"),
        "text_embedding_projection.audio_aggregate_embed.bias": ("connectors", "audio_text_proj_in.bias"),
        "model.diffusion_model.text_embedding_projection.video_aggregate_embed.weight": (
            "connectors", "video_text_proj_in.weight"),
        "vae.encoder.down_blocks.7.conv.conv.weight": ("vae", "encoder.down_blocks.3.downsamplers.0.conv.conv.weight"),
        "vae.decoder.up_blocks.7.conv.conv.weight": ("vae", "decoder.up_blocks.3.upsamplers.0.conv.conv.weight"),
        "vae.decoder.up_blocks.8.res_blocks.3.conv2.conv.bias": (
            "vae", "decoder.up_blocks.3.resnets.3.conv2.conv.bias"),
        "vae.per_channel_statistics.std-of-means": ("vae", "latents_std"),
        "vae.per_channel_statistics.mean-of-stds": ("vae", None),
        "vocoder.vocoder.conv_pre.weight": ("vocoder", "vocoder.conv_in.weight"),
        "vocoder.vocoder.resblocks.0.acts1.1.downsample.lowpass.filter": (
            "vocoder", "vocoder.resnets.0.acts1.1.downsample.filter"),
        "vocoder.vocoder.resblocks.0.acts1.1.upsample.filter": ("vocoder", "vocoder.resnets.0.acts1.1.upsample.filter"),
        "vocoder.bwe_generator.ups.0.weight": ("vocoder", "bwe_generator.upsamplers.0.weight"),
        "vocoder.mel_stft.mel_basis": ("vocoder", "mel_stft.mel_basis"),
    }
    for original, (component, name) in pairs.items():
        assert single_file.component_of(original) == component, original
        assert to_diffusers(component, original) == name, original


def test_the_table_agrees_with_diffusers_single_file_converter_but_for_the_ltx23_names_it_lacks(
    tiny_model_dir: Path, ltx23_models: dict[str, Any]
) -> None:
    from diffusers.loaders import single_file_utils as diffusers_single_file

    converters = {
        "transformer": diffusers_single_file.convert_ltx2_transformer_to_diffusers,
        "vae": diffusers_single_file.convert_ltx2_vae_to_diffusers,
        "audio_vae": diffusers_single_file.convert_ltx2_audio_vae_to_diffusers,
    }
    tiny = {component: single_file.empty_component(component, tiny_model_dir) for component in converters}

    def lacking(key: str) -> bool:  # LTX-2.3 names diffusers 0.42's from_single_file does not convert
        return "prompt_adaln_single" in key or key.startswith(("vae.decoder.up_blocks.7.", "vae.decoder.up_blocks.8."))

    for models in (tiny, ltx23_models):
        for component, convert in converters.items():
            originals = {to_original(component, key): key for key in models[component].state_dict()}
            theirs = {original: next(iter(convert({original: torch.zeros(1)})), None) for original in originals}
            differ = {original for original, key in originals.items() if theirs[original] != key}
            assert differ == {original for original in originals if lacking(original)}, component


def test_the_shipped_ltx23_configs_have_the_sizes_of_the_real_checkpoint(ltx23_models: dict[str, Any]) -> None:
    """Sizes and shapes read from the real ltx-2.3-22b files by others (its embedded config, weight keys)."""

    def millions(component: str, part: str = "") -> float:
        params = ltx23_models[component].named_parameters()
        return round(sum(p.numel() for name, p in params if name.startswith(part)) / 1e6, 1)

    assert (millions("vae", "encoder"), millions("vae", "decoder")) == (318.9, 407.2)
    assert (millions("audio_vae", "encoder"), millions("audio_vae", "decoder")) == (21.3, 31.9)
    assert millions("vocoder") == 128.5
    assert round((millions("transformer") + millions("connectors")) / 1000) == 22  # "ltx-2.3-22b"
    shapes = {
        to_original(component, key): tuple(tensor.shape)
        for component in COMPONENTS
        for key, tensor in ltx23_models[component].state_dict().items()
    }
    assert shapes["model.diffusion_model.adaln_single.linear.weight"] == (36864, 4096)
    assert shapes["model.diffusion_model.prompt_adaln_single.linear.weight"] == (8192, 4096)
    assert shapes["vae.decoder.conv_in.conv.weight"] == (1024, 128, 3, 3, 3)
    assert shapes["vae.decoder.up_blocks.1.conv.conv.weight"] == (4096, 1024, 3, 3, 3)
    assert shapes["vae.decoder.up_blocks.3.conv.conv.weight"] == (4096, 512, 3, 3, 3)
    assert shapes["vae.decoder.up_blocks.5.conv.conv.weight"] == (512, 512, 3, 3, 3)
    assert shapes["vae.decoder.up_blocks.7.conv.conv.weight"] == (512, 256, 3, 3, 3)
    assert "vae.decoder.up_blocks.8.res_blocks.3.conv2.conv.weight" in shapes
    assert shapes["vae.decoder.conv_out.conv.weight"] == (48, 128, 3, 3, 3)
    assert "vocoder.bwe_generator.conv_pre.weight" in shapes and "vocoder.vocoder.conv_pre.weight" in shapes


# --- Paths and their errors


def test_paths_of_the_wrong_kind_are_explained_naming_the_setting(tmp_path: Path, tiny_model_dir: Path) -> None:
    names = PathNames("LTX_MODEL_PATH", "LTX_TEXT_ENCODER_PATH", "model.config")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "dev.safetensors").write_bytes(b"")
    (tmp_path / "empty").mkdir()
    cases = {
        ModelPaths(path=tmp_path / "gone.safetensors"): "LTX_MODEL_PATH is .*gone.safetensors, but nothing is there",
        ModelPaths(path=tmp_path / "notes.txt"): "LTX_MODEL_PATH is .*notes.txt, a “.txt” file: give the single-file",
        ModelPaths(path=tmp_path / "empty"): "LTX_MODEL_PATH is .*empty, a folder without model_index.json",
        ModelPaths(path=tmp_path / "dev.safetensors"): "holds no text encoder: set LTX_TEXT_ENCODER_PATH to the Gemma",
        ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tmp_path / "notes.txt"):
            "LTX_TEXT_ENCODER_PATH is .*notes.txt, a file: it must be the Gemma-3 folder",
        ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tmp_path / "empty"):
            "LTX_TEXT_ENCODER_PATH is .*empty, a folder without config.json",
        ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tiny_model_dir / "text_encoder",
                   config=tmp_path / "empty"): "model.config is .*empty, which lacks transformer/config.json",
    }
    for paths, message in cases.items():
        with pytest.raises(ModelPathsError, match=message):
            check_model_paths(paths, names)
    check_model_paths(ModelPaths(path=tiny_model_dir))
    check_model_paths(ModelPaths(path=tmp_path / "dev.safetensors", text_encoder=tiny_model_dir / "text_encoder"))


def test_a_yaml_model_is_a_preset_a_folder_or_a_mapping_of_files(tmp_path: Path, three_pairs: Path) -> None:
    def config(model: Any) -> Any:
        raw = {"model": model, "output_dir": "run", "data": {"manifest": str(three_pairs)}}
        (tmp_path / "train.yaml").write_text(yaml.safe_dump(raw))
        return load_config(tmp_path / "train.yaml")

    (tmp_path / "models" / "ltx").mkdir(parents=True)
    assert config("tiny").model == "tiny"
    assert config("models/ltx").model == str(tmp_path / "models" / "ltx")
    files = config({"path": "models/dev.safetensors", "text_encoder": "/srv/gemma", "name": "ltx-2.3"}).model
    assert files == ModelPaths(path=tmp_path / "models" / "dev.safetensors", text_encoder=Path("/srv/gemma"),
                               name="ltx-2.3")
    assert model_label(files) == "ltx-2.3" and model_label(str(tmp_path / "models" / "ltx")) == "ltx"
    with pytest.raises(ValueError, match="text_encodr"):
        config({"path": "models/dev.safetensors", "text_encodr": "/srv/gemma"})


# --- The web app's settings


@pytest.fixture
def ltx_files(tmp_path: Path, tiny_model_dir: Path) -> dict[str, Path]:
    folder = tmp_path / "ltx-2.3-dev"
    folder.mkdir()
    (folder / "model_index.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("hello")
    return {"folder": folder, "file": tmp_path / "ltx-2.3-22b-dev.safetensors", "txt": tmp_path / "notes.txt",
            "distilled": tmp_path / "ltx-2.3-22b-distilled.safetensors", "gemma": tiny_model_dir / "text_encoder"}


def test_settings_become_model_paths(settings: Any, ltx_files: dict[str, Path], tmp_path: Path) -> None:
    from training.models_config import ImproperlyConfiguredModel, model_paths, training_model

    for name in ("file", "distilled"):
        ltx_files[name].write_bytes(b"")
    settings.MODEL_PRESET = "ltx-2.3"
    settings.LTX_MODEL_PATH, settings.LTX_TEXT_ENCODER_PATH = str(ltx_files["folder"]), None
    assert model_paths() == ModelPaths(path=ltx_files["folder"], name="ltx-2.3")

    settings.LTX_MODEL_PATH, settings.LTX_TEXT_ENCODER_PATH = str(ltx_files["file"]), str(ltx_files["gemma"])
    settings.LTX_DISTILLED_MODEL_PATH = str(ltx_files["distilled"])
    assert model_paths() == ModelPaths(path=ltx_files["file"], text_encoder=ltx_files["gemma"], name="ltx-2.3")
    assert model_paths(distilled=True) == ModelPaths(
        path=ltx_files["distilled"], text_encoder=ltx_files["gemma"], distilled=True, name="ltx-2.3")
    assert training_model() == {"path": str(ltx_files["file"]), "text_encoder": str(ltx_files["gemma"]),
                                "config": None, "distilled": False, "name": "ltx-2.3"}

    refusals = {
        (str(tmp_path / "gone.safetensors"), str(ltx_files["gemma"])): "LTX_MODEL_PATH is .*gone.safetensors, but",
        (str(ltx_files["txt"]), str(ltx_files["gemma"])): "LTX_MODEL_PATH is .*notes.txt, a “.txt” file",
        (str(ltx_files["file"]), None): "set LTX_TEXT_ENCODER_PATH to the Gemma-3 folder",
        (None, None): "MODEL_PRESET is ltx-2.3 but LTX_MODEL_PATH is not set",
    }
    for (model, encoder), message in refusals.items():
        settings.LTX_MODEL_PATH, settings.LTX_TEXT_ENCODER_PATH = model, encoder
        with pytest.raises(ImproperlyConfiguredModel, match=message):
            model_paths()


def test_the_tiny_preset_stays_a_folder(settings: Any, tmp_path: Path) -> None:
    from training.models_config import model_paths, training_model

    settings.MODEL_PRESET = "tiny"
    settings.TINY_MODEL_DIR = tmp_path / "tiny"
    settings.TINY_MODEL_DIR.mkdir()
    (settings.TINY_MODEL_DIR / "model_index.json").write_text("{}")  # counts as built
    assert model_paths() == model_paths(distilled=True) == ModelPaths(path=tmp_path / "tiny", name="tiny")
    assert training_model() == str(tmp_path / "tiny")


def test_the_demo_preset_is_the_shipped_folder_and_a_missing_one_says_how_to_rebuild_it(
    settings: Any, tmp_path: Path
) -> None:
    from engine.loader import SHIPPED_DEMO_MODEL
    from training.models_config import ImproperlyConfiguredModel, model_paths, training_model

    settings.MODEL_PRESET = "demo"
    settings.DEMO_MODEL_DIR = SHIPPED_DEMO_MODEL
    assert model_paths() == ModelPaths(path=SHIPPED_DEMO_MODEL, name="demo")
    assert training_model() == str(SHIPPED_DEMO_MODEL)
    settings.DEMO_MODEL_DIR = tmp_path / "gone"
    with pytest.raises(ImproperlyConfiguredModel, match=r"DEMO_MODEL_DIR is .*gone, but nothing is there\. .*"
                       r"python -m training build-demo-model DIR"):
        model_paths()


@pytest.mark.django_db
def test_training_and_the_studio_load_the_single_file_the_settings_name(
    settings: Any, monkeypatch: pytest.MonkeyPatch, tiny_model_dir: Path, tiny_single_file: Path, tmp_path: Path,
    creator: Any,
) -> None:
    """Settings -> ModelPaths -> the runner's TrainConfig and the Studio's pipeline, down to the loaded weights.

    The tiny model's folder stands in for the shipped LTX-2.3 configs, which the tiny file does not fit.
    """
    from engine import model_paths as engine_paths
    from studio import generation
    from tests.factories import make_run, tiny_run_config
    from training.runner import training_config

    monkeypatch.setattr(engine_paths, "LTX23_CONFIGS", tiny_model_dir)
    settings.MODEL_PRESET = "ltx-2.3"
    settings.LTX_MODEL_PATH = settings.LTX_DISTILLED_MODEL_PATH = str(tiny_single_file)
    settings.LTX_TEXT_ENCODER_PATH = str(tiny_model_dir / "text_encoder")

    cfg = training_config(make_run(creator, config=tiny_run_config()), tmp_path / "work", tmp_path / "manifest.csv")
    assert cfg.model == ModelPaths(path=tiny_single_file, text_encoder=tiny_model_dir / "text_encoder",
                                   name="ltx-2.3")

    monkeypatch.setattr(generation, "_PIPELINES", {})
    pipe = generation.pipeline_for(distilled=True)
    assert pipe.iclora_model_name == "ltx-2.3" and pipe.scheduler.config.use_dynamic_shifting is False
    stored = _tensor(tiny_single_file, "model.diffusion_model.prompt_adaln_single.linear.weight")
    assert torch.equal(pipe.transformer.prompt_adaln.linear.weight, stored)


def _tensor(path: Path, key: str) -> torch.Tensor:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return handle.get_tensor(key)
