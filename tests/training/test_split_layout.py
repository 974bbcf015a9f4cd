"""Lightricks' split LTX-2.5 download (one file per component) loads through the same loader as the single file: the
tiny LTX-2.5 model is written as Lightricks splits it (the transformer file, the packed text-encoder file with the
text projection, the video-VAE file with bare keys, the audio-VAE file with the vocoder), loaded through
`load_pipeline` into exactly the folder model's weights, trained and sampled; and every way the files can be wrong is
refused before weights are read, in a sentence naming the setting.

Where the split comes from: Lightricks' LTX-2 README (the file names), ltx-trainer `model_loader.py` (the text
projection lives in the packed text-encoder file, the VAEs in standalone files), ltx-core's
`VAE_ENCODER_COMFY_KEYS_FILTER` (a standalone video VAE's bare `encoder.*` / `decoder.*` keys) and
`AUDIO_VAE_DECODER_COMFY_KEYS_FILTER` / `VOCODER_COMFY_KEYS_FILTER` (`audio_vae.*` and `vocoder.*` kept prefixed).
No real weights are used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import LTX2InContextPipeline
from safetensors import safe_open
from safetensors.torch import save_file

from engine.bases import LTX25
from engine.config import TrainConfig
from engine.dataset import Bucket
from engine.loader import load_pipeline, resolve_model
from engine.model_paths import ModelPaths, ModelPathsError, check_model_paths, environment_names, from_environment
from engine.sample import generate
from engine.single_file import COMPONENTS, SingleFileError, read_header
from engine.train import train
from tests.training.test_model_paths import in_fresh_memory, lightricks_tensors

TRANSFORMER = "ltx-2.5-tiny-dev-transformer-bf16.safetensors"
TEXT_ENCODER = "gemma4-tiny-with-proj-ltx-2.5-bf16.safetensors"
VIDEO_VAE = "ltx-2.5-tiny-video-vae-conv-bf16.safetensors"
AUDIO_VAE = "ltx-2.5-tiny-audio-vae-bf16.safetensors"


def _config(sections: dict[str, Any]) -> dict[str, str]:
    """Lightricks' embedded config: one JSON string under `config`, a section per component the file holds."""
    return {"config": json.dumps(sections)}


def write_split(pipe: Any, folder: Path) -> dict[str, Path]:
    """The pipeline's weights under Lightricks' names, in Lightricks' four split files (Lightricks' folders kept)."""
    tensors = lightricks_tensors(pipe)
    encoder_config = pipe.text_encoder.config.to_dict()

    def part(prefixes: tuple[str, ...]) -> dict[str, torch.Tensor]:
        return {key: tensor for key, tensor in tensors.items() if key.startswith(prefixes)}

    files = {
        "transformer": folder / "diffusion_models" / TRANSFORMER,
        "text_projection": folder / "text_encoders" / TEXT_ENCODER,
        "video_vae": folder / "vae" / VIDEO_VAE,
        "audio_vae": folder / "vae" / AUDIO_VAE,
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    # The transformer file: the transformer and the connectors' 1D transformers, no projection, no VAE.
    save_file(part(("model.diffusion_model.",)), str(files["transformer"]),
              metadata=_config({"transformer": {"ff_bias": False}, "scheduler": {}}))
    # The packed text encoder: Gemma 4 (ComfyUI's flat names), its config, its tokenizer as bytes, and the projection.
    gemma = {f"model.{key.removeprefix('model.language_model.')}": tensor.contiguous()
             for key, tensor in pipe.text_encoder.state_dict().items() if key.startswith("model.language_model.")}
    assets = {"tokenizer_json": torch.frombuffer(bytearray(b'{"version": "1.0"}'), dtype=torch.uint8),
              "hf_asset__tokenizer_config.json": torch.frombuffer(bytearray(b"{}"), dtype=torch.uint8)}
    save_file(gemma | assets | part(("text_embedding_projection.",)), str(files["text_projection"]),
              metadata={"gemma_config": json.dumps(encoder_config)})
    # The standalone video VAE keeps its keys bare.
    save_file({key.removeprefix("vae."): tensor for key, tensor in part(("vae.",)).items()}, str(files["video_vae"]),
              metadata=_config({"vae": {"_class_name": "CausalVideoAutoencoder"}}))
    save_file(part(("audio_vae.", "vocoder.")), str(files["audio_vae"]),
              metadata=_config({"audio_vae": {}, "vocoder": {}}))
    return files


@pytest.fixture(scope="module")
def tiny25(tiny_model_dirs: Callable[[str], Path]) -> Path:
    return tiny_model_dirs("ltx-2.5")


@pytest.fixture(scope="module")
def split25(tiny25: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_split(LTX2InContextPipeline.from_pretrained(tiny25), tmp_path_factory.mktemp("split25") / "ltx-2.5")


def split_paths(files: dict[str, Path], tiny_model_dir: Path, tiny25: Path, **changes: Any) -> ModelPaths:
    """The split files with the tiny Gemma 4 folder, read with the tiny LTX-2.3 folder's configs: the LTX-2.5
    switches must come from the transformer file's tensors, as with the shipped LTX-2.3 configs and the real files."""
    fields: dict[str, Any] = {"path": files["transformer"], "video_vae": files["video_vae"],
                              "audio_vae": files["audio_vae"], "text_projection": files["text_projection"],
                              "text_encoder": tiny25 / "text_encoder", "config": tiny_model_dir, "name": "ltx-2.5"}
    return ModelPaths(**(fields | changes))


def _state(module: Any) -> dict[str, torch.Tensor]:
    return dict(module.state_dict())


# --- The files, as Lightricks splits them


def test_the_written_files_hold_each_component_under_lightricks_names_where_lightricks_puts_it(
    split25: dict[str, Path],
) -> None:
    keys = {name: set(read_header(path)[0]) for name, path in split25.items()}
    assert all(key.startswith("model.diffusion_model.") for key in keys["transformer"])
    assert "model.diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.weight" in keys[
        "transformer"]
    assert not any("text_embedding_projection" in key for key in keys["transformer"])  # only in the text encoder's
    assert {"text_embedding_projection.video_aggregate_embed.weight", "text_embedding_projection.audio_aggregate_embed"
            ".weight", "tokenizer_json", "model.layers.0.post_feedforward_layernorm.weight"} <= keys["text_projection"]
    assert "encoder.down_blocks.8.res_blocks.0.conv1.conv.weight" in keys["video_vae"]  # bare, as ltx-core reads it
    assert "per_channel_statistics.mean-of-means" in keys["video_vae"]
    assert not any(key.startswith("vae.") for key in keys["video_vae"])
    assert {"audio_vae.per_channel_statistics.std-of-means", "vocoder.conv_pre.weight"} <= keys["audio_vae"]


# --- Loading


def test_a_split_ltx25_checkpoint_loads_every_weight_into_diffusers_classes(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path
) -> None:
    folder = load_pipeline(tiny25, device="cpu")
    split = load_pipeline(split_paths(split25, tiny_model_dir, tiny25), device="cpu")
    assert split.iclora_base == "ltx-2.5" and split.iclora_model_name == "ltx-2.5"
    assert {key: split.transformer.config[key] for key in LTX25.transformer} == LTX25.transformer
    for component in COMPONENTS:
        want, got = _state(getattr(folder, component)), _state(getattr(split, component))
        assert want.keys() == got.keys(), component
        assert all(torch.equal(want[key], got[key]) for key in want), component
    # The projection came from the text-encoder file, the connectors' transformers from the transformer file.
    with safe_open(str(split25["text_projection"]), "pt") as handle:
        stored = handle.get_tensor("text_embedding_projection.video_aggregate_embed.weight")
    assert torch.equal(split.connectors.video_text_proj_in.weight, stored)


def test_a_pipeline_call_on_the_split_checkpoint_makes_the_folder_models_video(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path
) -> None:
    folder = load_pipeline(tiny25, device="cpu")
    split = load_pipeline(split_paths(split25, tiny_model_dir, tiny25), device="cpu")
    in_fresh_memory(folder)
    reference = np.random.default_rng(0).integers(0, 256, (9, 64, 64, 3), dtype=np.uint8)
    same: dict[str, Any] = {"prompt": "a red car", "num_inference_steps": 2, "seed": 3, "max_sequence_length": 32}
    bucket = Bucket(64, 64, 9, 24.0)
    assert np.array_equal(generate(folder, reference, bucket, **same), generate(split, reference, bucket, **same))


def test_training_runs_on_the_split_checkpoint(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path, three_pairs: Path, raw_config: Any, tmp_path: Path
) -> None:
    """Training loads the encoders first and the transformer after (`load_transformer`): both from the split files."""
    raw = raw_config(tmp_path, three_pairs, tiny25, optim={"steps": 2})
    raw["model"] = split_paths(split25, tiny_model_dir, tiny25).model_dump(mode="json")
    cfg = TrainConfig.model_validate(raw)
    result = train(cfg)
    assert result.status == "finished" and result.steps == 2 and np.isfinite(result.last_loss)
    assert result.adapter_path is not None and result.adapter_path.exists()


# --- Settings


def test_the_ltx_2_5_preset_reads_the_split_files_from_the_operators_variables(
    monkeypatch: pytest.MonkeyPatch, split25: dict[str, Path], tiny25: Path
) -> None:
    assert LTX25.split_environment == ("LTX25_VIDEO_VAE_PATH", "LTX25_AUDIO_VAE_PATH", "LTX25_TEXT_PROJECTION_PATH")
    environ = {"LTX25_MODEL_PATH": str(split25["transformer"]), "LTX25_TEXT_ENCODER_PATH": str(tiny25 / "text_encoder"),
               "LTX25_VIDEO_VAE_PATH": str(split25["video_vae"]), "LTX25_AUDIO_VAE_PATH": str(split25["audio_vae"]),
               "LTX25_TEXT_PROJECTION_PATH": str(split25["text_projection"])}
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    paths = resolve_model("ltx-2.5")
    assert paths == ModelPaths(path=split25["transformer"], text_encoder=tiny25 / "text_encoder",
                               video_vae=split25["video_vae"], audio_vae=split25["audio_vae"],
                               text_projection=split25["text_projection"], name="ltx-2.5")
    assert paths.split and paths.single_file
    # Configs written before the split layout stay valid, and mean what they meant.
    unified = ModelPaths.model_validate({"path": "/models/ltx-2.3-22b-dev.safetensors", "text_encoder": "/srv/gemma"})
    assert not unified.split
    assert from_environment({"LTX_MODEL_PATH": "/models/dev.safetensors"}) == ModelPaths(
        path=Path("/models/dev.safetensors"), name="ltx-2.3")


def test_the_web_apps_ltx25_settings_give_the_worker_the_split_files_for_dev_and_distilled(
    settings: Any, split25: dict[str, Path], tiny25: Path
) -> None:
    # Django settings: imported once they are set up, as test_model_paths does
    from training.models_config import ImproperlyConfiguredModel, model_paths, training_model

    settings.MODEL_PRESET, settings.LTX_MODEL_PATH = "ltx-2.5", None
    settings.LTX25_MODEL_PATH = settings.LTX25_DISTILLED_MODEL_PATH = str(split25["transformer"])
    settings.LTX25_TEXT_ENCODER_PATH = str(tiny25 / "text_encoder")
    settings.LTX25_VIDEO_VAE_PATH, settings.LTX25_AUDIO_VAE_PATH = str(split25["video_vae"]), str(split25["audio_vae"])
    settings.LTX25_TEXT_PROJECTION_PATH = str(split25["text_projection"])
    expected = ModelPaths(path=split25["transformer"], text_encoder=tiny25 / "text_encoder", name="ltx-2.5",
                          video_vae=split25["video_vae"], audio_vae=split25["audio_vae"],
                          text_projection=split25["text_projection"])
    assert model_paths(base="ltx-2.5") == expected
    # The distilled transformer shares the dev one's VAE and projection files.
    assert model_paths(distilled=True, base="ltx-2.5") == expected.model_copy(update={"distilled": True})
    stored = training_model(base="ltx-2.5")
    assert isinstance(stored, dict) and stored["video_vae"] == str(split25["video_vae"])
    assert ModelPaths.model_validate(stored) == model_paths(base="ltx-2.5")

    settings.LTX25_AUDIO_VAE_PATH = None
    with pytest.raises(ImproperlyConfiguredModel, match=r"LTX25_AUDIO_VAE_PATH is not set, but .* split layout needs"):
        model_paths(base="ltx-2.5")


# --- Refusals


def test_a_missing_or_unset_split_file_is_refused_naming_its_setting(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    names = environment_names("ltx-2.5")
    gone = split_paths(split25, tiny_model_dir, tiny25, video_vae=tmp_path / "gone.safetensors")
    with pytest.raises(ModelPathsError, match=r"LTX25_VIDEO_VAE_PATH is .*gone\.safetensors, but nothing is there\."):
        check_model_paths(gone, names)
    unset = split_paths(split25, tiny_model_dir, tiny25, text_projection=None)
    with pytest.raises(ModelPathsError, match=r"LTX25_TEXT_PROJECTION_PATH is not set, but Lightricks' split layout "
                       r"needs every file beside the transformer's: set LTX25_VIDEO_VAE_PATH to "
                       r"vae/ltx-2.5-video-vae-conv-bf16.safetensors, .* and LTX25_TEXT_PROJECTION_PATH to "
                       r"text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors\."):
        check_model_paths(unset, names)
    alone = ModelPaths(path=split25["transformer"], text_encoder=tiny25 / "text_encoder", config=tiny_model_dir,
                       name="ltx-2.5")
    with pytest.raises(ModelPathsError, match=r"LTX25_MODEL_PATH is .*transformer-bf16\.safetensors, the transformer "
                       r"file of Lightricks' split layout: .* Set LTX25_VIDEO_VAE_PATH to vae/ltx-2.5-video-vae-conv"):
        load_pipeline(alone, device="cpu", names=names)
    download = split25["transformer"].parents[1]
    with pytest.raises(ModelPathsError, match=r"LTX25_MODEL_PATH is .*, Lightricks' download folder .*: set "
                       r"LTX25_MODEL_PATH to its transformer file \(diffusion_models/ltx-2.5-22b-dev-transformer"):
        check_model_paths(ModelPaths(path=download, text_encoder=tiny25 / "text_encoder"), names)


def test_a_file_of_the_wrong_component_is_refused_before_any_weight_is_read(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path
) -> None:
    swapped = split_paths(split25, tiny_model_dir, tiny25, video_vae=split25["audio_vae"],
                          audio_vae=split25["video_vae"])
    with pytest.raises(SingleFileError) as refused:
        load_pipeline(swapped, device="cpu", names=environment_names("ltx-2.5"))
    message = str(refused.value)
    assert (f"LTX25_VIDEO_VAE_PATH is {AUDIO_VAE}, which holds the audio VAE (audio_vae.*) and the vocoder "
            "(vocoder.*), not the video VAE (vae.*)") in message
    assert (f"LTX25_AUDIO_VAE_PATH is {VIDEO_VAE}, which holds no LTX-2 component's tensors, not the audio VAE "
            "(audio_vae.*) and the vocoder (vocoder.*)") in message
    vae_as_projection = split_paths(split25, tiny_model_dir, tiny25, text_projection=split25["audio_vae"])
    with pytest.raises(SingleFileError, match=rf"model.text_projection is {AUDIO_VAE}, which holds the audio VAE "
                       r"\(audio_vae\.\*\) and the vocoder \(vocoder\.\*\), not the text projection "
                       r"\(text_embedding_projection\.\*\)\."):
        load_pipeline(vae_as_projection, device="cpu")
    transformer_twice = split_paths(split25, tiny_model_dir, tiny25, text_projection=split25["transformer"])
    with pytest.raises(SingleFileError, match=r"model.diffusion_model.audio_embeddings_connector.* and \d+ more are in "
                       r"both model.path \(.*\) and model.text_projection"):
        load_pipeline(transformer_twice, device="cpu")


def test_the_packed_text_encoder_given_as_the_gemma_folder_is_refused_saying_what_to_give(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path
) -> None:
    packed = split_paths(split25, tiny_model_dir, tiny25, text_encoder=split25["text_projection"])
    with pytest.raises(ModelPathsError, match=r"LTX25_TEXT_ENCODER_PATH is .*gemma4-tiny-with-proj.*: transformers "
                       r"cannot load Gemma from it as it is .* Set LTX25_TEXT_ENCODER_PATH to the Gemma text-encoder "
                       r"folder .* give this file as LTX25_TEXT_PROJECTION_PATH"):
        check_model_paths(packed, environment_names("ltx-2.5"))


@pytest.mark.parametrize("told_by", ["its embedded config", "its keys alone"])
def test_the_diffusion_decoder_video_vae_is_refused_from_its_header_pointing_at_the_conv_file(
    told_by: str, split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    """Lightricks' `ltx-2.5-video-vae-bf16.safetensors`: an encoder, and ltx-core's `DiffusionVideoDecoder`
    (ComfyUI names, as ltx-core's loader reads them: `qkv`, `gate_msa`, `t_embedder.mlp`) for a decoder."""
    with safe_open(str(split25["video_vae"]), "pt") as handle:
        encoder = {key: handle.get_tensor(key) for key in handle.keys()  # noqa: SIM118 -- not a Mapping
                   if key.startswith(("encoder.", "per_channel_statistics."))}
    decoder = {f"decoder.{key}": torch.zeros(2, 2) for key in (
        "conv_in.weight", "det_stages.0.0.attn.qkv.weight", "upsamples.0.proj.weight", "t_embedder.mlp.0.weight",
        "conv_in_x_t.weight", "shared_adaln.linear.weight", "diff_blocks.0.attn.qkv.weight", "diff_blocks.0.gate_msa",
        "norm_out.weight", "conv_out.weight")}
    metadata = _config({"vae": {"_class_name": "CausalDiffusionVAE"}}) if told_by == "its embedded config" else {}
    diffusion_vae = tmp_path / "ltx-2.5-video-vae-bf16.safetensors"
    save_file(encoder | decoder, str(diffusion_vae), metadata=metadata)
    paths = split_paths(split25, tiny_model_dir, tiny25, video_vae=diffusion_vae)
    check_model_paths(paths, environment_names("ltx-2.5"))  # a file that is there: only its header tells
    with pytest.raises(SingleFileError, match=r"LTX25_VIDEO_VAE_PATH is ltx-2.5-video-vae-bf16.safetensors: it is "
                       r"Lightricks' video VAE with the diffusion decoder .*Use the convolutional-decoder file, "
                       r"vae/ltx-2.5-video-vae-conv-bf16.safetensors"):
        load_pipeline(paths, device="cpu", names=environment_names("ltx-2.5"))


def test_an_ltx_2_3_transformer_file_given_as_ltx_2_5_is_refused_naming_the_setting(
    split25: dict[str, Path], tiny25: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    split23 = write_split(LTX2InContextPipeline.from_pretrained(tiny_model_dir), tmp_path / "ltx-2.3")
    paths = split_paths(split25, tiny_model_dir, tiny25, path=split23["transformer"])
    with pytest.raises(ModelPathsError, match=r"LTX25_MODEL_PATH is .*, an LTX-2.3 model by its transformer, but it "
                       r"is given as LTX-2.5: set it as LTX_MODEL_PATH instead\."):
        load_pipeline(paths, device="cpu", names=environment_names("ltx-2.5"))
