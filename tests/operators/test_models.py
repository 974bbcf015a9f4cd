"""Model paths checked from folders and file headers, with the active preset highlighted."""

import html
import json
from pathlib import Path

import numpy as np
import pytest
from django.test import Client
from safetensors.numpy import save_file

from operators import model_checks

LTX_COMPONENTS = ("scheduler", "text_encoder", "tokenizer", "transformer", "vae")


def make_pipeline(folder: Path, class_name: str = "LTX2Pipeline", missing: str | None = None) -> Path:
    folder.mkdir(parents=True)
    index = {"_class_name": class_name, "_diffusers_version": "0.42.1", "audio_vae": [None, None]}
    for name in LTX_COMPONENTS:
        index[name] = ["diffusers", f"{name.title()}Class"]
        if name != missing:
            (folder / name).mkdir()
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def make_checkpoint(path: Path, **metadata: str) -> Path:
    save_file({"a.weight": np.zeros((2, 2), np.float32), "b.weight": np.ones(3, np.float32)}, str(path),
              metadata=metadata or None)
    return path


LTX23_KEYS = (  # one tensor per component, under Lightricks' names (see engine/single_file.py)
    "model.diffusion_model.adaln_single.linear.weight",
    "model.diffusion_model.prompt_adaln_single.linear.weight",
    "model.diffusion_model.video_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.weight",
    "vae.decoder.conv_in.conv.weight",
    "audio_vae.decoder.conv_in.conv.weight",
    "vocoder.vocoder.conv_pre.weight",
)


def make_ltx_checkpoint(path: Path, keys: tuple[str, ...] = LTX23_KEYS, **metadata: str) -> Path:
    save_file({key: np.zeros((2, 2), np.float32) for key in keys}, str(path), metadata=metadata or None)
    return path


def make_model_folder(folder: Path, model_type: str, weights: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type, "architectures": ["SomeModel"]}))
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return folder


def test_it_recognises_an_ltx2_diffusers_folder_and_counts_its_components(tmp_path):
    check = model_checks.check_model_location(make_pipeline(tmp_path / "ltx"))
    assert check.ok and check.summary == "OK: LTX-2 diffusers pipeline, 5 components."


def test_it_refuses_a_pipeline_of_another_model_or_with_missing_parts(tmp_path):
    other = model_checks.check_diffusers_folder(make_pipeline(tmp_path / "flux", class_name="FluxPipeline"))
    assert not other.ok and other.summary == "A diffusers pipeline, but for FluxPipeline, not LTX-2."
    partial = model_checks.check_diffusers_folder(make_pipeline(tmp_path / "half", missing="vae"))
    assert not partial.ok and "missing: vae" in partial.summary


def test_it_reads_a_single_file_checkpoints_header_metadata(tmp_path):
    config = "{" + "x" * 100 + "}"
    path = make_ltx_checkpoint(tmp_path / "ltx-2.3-dev.safetensors", model_version="2.3.0", config=config)
    check = model_checks.check_model_location(path)
    assert check.ok and check.summary.startswith("OK: LTX-2.3 single-file checkpoint, 6 tensors")
    assert "model_version: 2.3.0" in check.details and "config: 102 characters" in check.details
    assert ("tensors per component: transformer 2, connectors 1, vae 1, audio_vae 1, vocoder 1") in check.details


def test_a_single_file_is_sorted_into_components_as_the_loader_sorts_it(tmp_path):
    other = model_checks.check_model_location(make_checkpoint(tmp_path / "flux.safetensors"))
    assert not other.ok and other.summary.startswith(
        "A safetensors file, but not an LTX single-file checkpoint: it holds no transformer (model.diffusion_model.*)")
    dit_only = make_ltx_checkpoint(tmp_path / "dit.safetensors", LTX23_KEYS[:3])
    assert "it holds no video VAE (vae.*); no audio VAE" in model_checks.check_model_location(dit_only).summary
    without_prompt_adaln = tuple(key for key in LTX23_KEYS if "prompt" not in key)
    ltx2 = make_ltx_checkpoint(tmp_path / "ltx-2-19b-dev.safetensors", without_prompt_adaln)
    check = model_checks.check_model_location(ltx2)
    assert not check.ok and check.summary.startswith("An LTX-2 (19B) single-file checkpoint")


def test_it_explains_files_and_folders_of_the_wrong_kind(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "broken.safetensors").write_bytes(b"not a header at all")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "Not a .safetensors file" in model_checks.check_safetensors_file(tmp_path / "notes.txt").summary
    assert "Could not read it as a safetensors file" in model_checks.check_model_location(
        tmp_path / "broken.safetensors").summary
    assert "model_index.json is missing" in model_checks.check_model_location(empty).summary
    assert model_checks.check_model_location(tmp_path / "nowhere").summary.startswith("Nothing at this path")
    assert model_checks.check_text_encoder_folder(tmp_path / "notes.txt").summary == "Expected a folder, found a file."
    bert = model_checks.check_text_encoder_folder(make_model_folder(tmp_path / "bert", "bert"))
    assert not bert.ok and "not Gemma" in bert.summary
    no_weights = model_checks.check_model_folder(make_model_folder(tmp_path / "dpt", "dpt", weights=False), "depth")
    assert not no_weights.ok and "no weight files" in no_weights.summary


def test_it_checks_that_the_pose_interpreter_can_be_run(tmp_path):
    interpreter = tmp_path / "python"
    interpreter.write_text("#!/bin/sh\n")
    assert model_checks.check_interpreter(interpreter).summary == "The file exists but is not executable."
    interpreter.chmod(0o755)
    assert model_checks.check_interpreter(interpreter).ok



def _row(page: str, attribute: str) -> str:
    """The table row of the ops page that carries `attribute` (data-setting="LTX_MODEL_PATH", data-base="ltx-2.5")."""
    return page.split(attribute)[1].split("</tr>")[0]


def _setting(page: str, name: str) -> str:
    """The ops page's row of the setting `name`."""
    return _row(page, f'data-setting="{name}"')

@pytest.mark.django_db
def test_an_operator_sees_every_model_path_explained_and_the_active_preset(client: Client, operator, settings,
                                                                           tmp_path):
    interpreter = tmp_path / "pose" / "python"
    interpreter.parent.mkdir()
    interpreter.write_text("#!/bin/sh\n")
    interpreter.chmod(0o755)
    settings.MODEL_PRESET = "ltx-2.3"
    settings.TINY_MODEL_DIR = tmp_path / "tiny-not-built"
    settings.LTX_MODEL_PATH = str(make_ltx_checkpoint(tmp_path / "dev.safetensors", model_version="2.3"))
    settings.LTX_TEXT_ENCODER_PATH = str(make_model_folder(tmp_path / "gemma", "gemma3"))
    settings.LTX_DISTILLED_MODEL_PATH = None
    settings.DEPTH_MODEL_PATH = str(make_pipeline(tmp_path / "not-a-depth-model"))  # a folder of the wrong kind
    settings.CAPTION_MODEL_PATH = str(tmp_path / "captioner-gone")
    settings.POSE_PYTHON = interpreter
    client.force_login(operator)
    page = client.get("/ops/models/").content.decode()

    assert 'data-preset="ltx-2.3" class="ops-highlight"' in page and "Active, ready" in page
    assert 'data-preset="tiny" class' not in page
    assert "OK: LTX-2.3 single-file checkpoint, 6 tensors" in _setting(page, "LTX_MODEL_PATH")
    assert "ops-highlight" in _setting(page, "LTX_MODEL_PATH")
    assert "OK: Gemma text encoder (gemma3)." in _setting(page, "LTX_TEXT_ENCODER_PATH")
    assert "Not configured — Studio previews use the dev checkpoint." in _setting(page, "LTX_DISTILLED_MODEL_PATH")
    depth = _setting(page, "DEPTH_MODEL_PATH")
    assert 'data-status="problem"' in depth and "Not a model folder: config.json is missing" in depth
    assert "Folder missing." in _setting(page, "CAPTION_MODEL_PATH")
    assert "OK: interpreter python is executable." in _setting(page, "POSE_PYTHON")
    assert "Not built — only the tiny preset uses it." in _setting(page, "TINY_MODEL_DIR")
    assert "OK: LTX-2 diffusers pipeline, 8 components." in _setting(page, "DEMO_MODEL_DIR")  # shipped with the app


@pytest.mark.django_db
def test_a_single_file_model_without_its_text_encoder_is_a_problem_for_the_active_preset(
    client: Client, operator, settings, tmp_path
):
    settings.MODEL_PRESET = "ltx-2.3"
    settings.LTX_MODEL_PATH = str(make_ltx_checkpoint(tmp_path / "dev.safetensors"))
    settings.LTX_TEXT_ENCODER_PATH = None
    client.force_login(operator)
    page = client.get("/ops/models/").content.decode()
    assert "Active, with a problem below" in page
    assert "Not configured — a single-file checkpoint needs the Gemma folder beside it." in page


@pytest.mark.django_db
def test_an_operator_sees_how_the_gpus_memory_is_used(client: Client, operator, settings):
    settings.TRAINING_GPU_MEMORY_GB, settings.TRAINING_QUANTIZE, settings.STUDIO_QUANTIZE = 48, "int8", "none"
    client.force_login(operator)
    page = client.get("/ops/models/").content.decode()
    table = page.split('id="gpu-memory"')[1].split("</table>")[0]
    assert "<code>48 GB</code>" in table and "refuses settings that would not fit" in table
    assert "about 18 GB less" in table and "The Studio uses bf16 weights." in table


FEED_FORWARD = "model.diffusion_model.transformer_blocks.0.ff.net.0.proj"
LTX25_KEYS = (*LTX23_KEYS, f"{FEED_FORWARD}.weight", "model.diffusion_model.keyframes_abs_pos_embedding")
WITH_BIAS_KEYS = (*LTX23_KEYS, f"{FEED_FORWARD}.weight", f"{FEED_FORWARD}.bias")


def test_a_single_file_is_named_by_the_base_its_tensors_show_and_refused_when_set_up_as_the_other(tmp_path):
    ltx25 = make_ltx_checkpoint(tmp_path / "ltx-2.5-dev.safetensors", LTX25_KEYS)
    ltx23 = make_ltx_checkpoint(tmp_path / "ltx-2.3-dev.safetensors", WITH_BIAS_KEYS)
    assert model_checks.check_model_location(ltx25, "ltx-2.5").summary.startswith(
        "OK: LTX-2.5 single-file checkpoint, 8 tensors")
    assert model_checks.check_model_location(ltx23, "ltx-2.3").ok
    wrong = model_checks.check_model_location(ltx23, "ltx-2.5")
    assert not wrong.ok
    assert wrong.summary == ("An LTX-2.3 model by its transformer, but set up as LTX-2.5: set it as LTX_MODEL_PATH "
                             "instead.")
    gemma3 = model_checks.check_text_encoder_folder(make_model_folder(tmp_path / "gemma3", "gemma3"), "ltx-2.5")
    assert not gemma3.ok and gemma3.summary.startswith("A gemma3 text encoder, but LTX-2.5 needs Lightricks' "
                                                       "fine-tuned Gemma 4")


@pytest.mark.django_db
def test_the_operator_sees_each_configured_base_by_name_and_the_problem_of_the_one_set_up_wrong(
    client: Client, operator, settings, tmp_path
):
    settings.MODEL_PRESET = "ltx-2.3"
    settings.MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    settings.LTX_MODEL_PATH = str(make_ltx_checkpoint(tmp_path / "dev-2.3.safetensors", WITH_BIAS_KEYS))
    settings.LTX_TEXT_ENCODER_PATH = str(make_model_folder(tmp_path / "gemma3", "gemma3"))
    settings.LTX_DISTILLED_MODEL_PATH = None
    settings.LTX25_MODEL_PATH = str(make_ltx_checkpoint(tmp_path / "dev-2.5.safetensors", LTX25_KEYS))
    settings.LTX25_TEXT_ENCODER_PATH = str(make_model_folder(tmp_path / "gemma3-again", "gemma3"))  # the wrong one
    settings.LTX25_DISTILLED_MODEL_PATH = None
    client.force_login(operator)
    page = client.get("/ops/models/").content.decode()

    bases = page.split('id="bases"')[1].split("</table>")[0]
    assert "LTX-2.3 <code>ltx-2.3</code>" in bases and "LTX-2.5 <code>ltx-2.5</code>" in bases
    assert "Offered to creators, ready" in _row(page, 'data-base="ltx-2.3"')
    assert "Offered to creators, with a problem below" in _row(page, 'data-base="ltx-2.5"')
    assert "OK: LTX-2.3 single-file checkpoint" in _setting(page, "LTX_MODEL_PATH")
    assert "OK: LTX-2.5 single-file checkpoint" in _setting(page, "LTX25_MODEL_PATH")
    encoder = _setting(page, "LTX25_TEXT_ENCODER_PATH")
    assert 'data-status="problem"' in encoder and "A gemma3 text encoder, but LTX-2.5 needs" in encoder


@pytest.mark.django_db
def test_the_tiny_preset_offers_both_tiny_bases_when_the_operator_lists_them(client: Client, operator, settings,
                                                                            tmp_path):
    settings.MODEL_PRESET, settings.TINY_MODEL_DIR = "tiny", tmp_path / "tiny"
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    client.force_login(operator)
    page = client.get("/ops/models/").content.decode()
    bases = page.split('id="bases"')[1].split("</table>")[0]
    assert bases.count("Offered to creators") == 2
    tiny25 = page.split('data-setting="TINY_MODEL_BASES"')[1].split("</tr>")[0]
    assert "Tiny LTX-2.5 model" in tiny25 and str(tmp_path / "tiny-ltx-2.5") in tiny25
    assert "Not built yet — a worker builds it the first time it needs it." in tiny25

    settings.TINY_MODEL_BASES = ("ltx-2.3",)
    page = client.get("/ops/models/").content.decode()
    assert "Not offered" in page.split('data-base="ltx-2.5"')[1].split("</tr>")[0]
    assert 'data-setting="TINY_MODEL_BASES"' not in page


def make_split_download(folder: Path) -> dict[str, Path]:
    """One tensor or two per file of Lightricks' split LTX-2.5 download, under its names (engine/single_file.py)."""
    folder.mkdir(parents=True)
    transformer = tuple(key for key in LTX25_KEYS if key.startswith("model.diffusion_model."))
    return {
        "LTX25_MODEL_PATH": make_ltx_checkpoint(folder / "ltx-2.5-22b-dev-transformer-bf16.safetensors", transformer),
        "LTX25_VIDEO_VAE_PATH": make_ltx_checkpoint(
            folder / "ltx-2.5-video-vae-conv-bf16.safetensors",
            ("decoder.conv_in.conv.weight", "encoder.conv_in.conv.weight"),
            config=json.dumps({"vae": {"_class_name": "CausalVideoAutoencoder"}})),
        "LTX25_AUDIO_VAE_PATH": make_ltx_checkpoint(folder / "ltx-2.5-audio-vae-bf16.safetensors",
                                                    ("audio_vae.decoder.conv_in.conv.weight",
                                                     "vocoder.vocoder.conv_pre.weight")),
        "LTX25_TEXT_PROJECTION_PATH": make_ltx_checkpoint(
            folder / "gemma4-12b-with-proj-ltx-2.5-bf16.safetensors",
            ("model.layers.0.mlp.down_proj.weight", "text_embedding_projection.video_aggregate_embed.weight")),
    }


@pytest.mark.django_db
def test_the_operator_sees_each_file_of_lightricks_split_ltx25_download_checked_for_what_it_holds(
    client: Client, operator, settings, tmp_path
):
    settings.MODEL_PRESET, settings.MODEL_BASES = "ltx-2.3", ("ltx-2.5",)  # the real-model preset, LTX-2.5 alone
    settings.LTX_MODEL_PATH = settings.LTX25_DISTILLED_MODEL_PATH = None
    settings.LTX25_TEXT_ENCODER_PATH = str(make_model_folder(tmp_path / "gemma4", "gemma4_unified"))
    files = make_split_download(tmp_path / "ltx-2.5")
    for name, path in files.items():
        setattr(settings, name, str(path))
    client.force_login(operator)
    page = html.unescape(client.get("/ops/models/").content.decode())

    assert "Offered to creators, ready" in _row(page, 'data-base="ltx-2.5"')
    assert "OK: transformer and text connectors of Lightricks' split download" in _setting(page, "LTX25_MODEL_PATH")
    assert "OK: video VAE of Lightricks' split download" in _setting(page, "LTX25_VIDEO_VAE_PATH")
    assert "OK: audio VAE and vocoder of Lightricks' split download" in _setting(page, "LTX25_AUDIO_VAE_PATH")
    assert "OK: text projection of Lightricks' split download" in _setting(page, "LTX25_TEXT_PROJECTION_PATH")

    # The audio file given as the video VAE, and the projection left out: each row says what is wrong.
    settings.LTX25_VIDEO_VAE_PATH, settings.LTX25_TEXT_PROJECTION_PATH = str(files["LTX25_AUDIO_VAE_PATH"]), None
    page = html.unescape(client.get("/ops/models/").content.decode())
    assert "Offered to creators, with a problem below" in _row(page, 'data-base="ltx-2.5"')
    video = _setting(page, "LTX25_VIDEO_VAE_PATH")
    assert 'data-status="problem"' in video
    assert "it holds no video VAE. Lightricks ships it as vae/ltx-2.5-video-vae-conv" in video
    projection = _setting(page, "LTX25_TEXT_PROJECTION_PATH")
    assert 'data-status="problem"' in projection and "split download needs every file beside" in projection


def test_a_split_transformer_file_alone_and_the_diffusion_decoder_vae_are_explained(tmp_path):
    files = make_split_download(tmp_path / "ltx-2.5")
    alone = model_checks.check_model_location(files["LTX25_MODEL_PATH"], "ltx-2.5")
    assert not alone.ok and alone.summary.startswith(
        "The transformer file of Lightricks' split download: the VAEs and the text projection are in files of their "
        "own. Set LTX25_VIDEO_VAE_PATH to vae/ltx-2.5-video-vae-conv-bf16.safetensors")
    diffusion = make_ltx_checkpoint(tmp_path / "ltx-2.5-video-vae-bf16.safetensors", ("decoder.conv_in.conv.weight",),
                                    config=json.dumps({"vae": {"_class_name": "NADiffusionDecoderVAE"}}))
    refused = model_checks.check_split_file(diffusion, "video_vae")
    assert not refused.ok and refused.summary.startswith("This is ltx-2.5-video-vae-bf16.safetensors: it is "
                                                         "Lightricks' video VAE with the diffusion decoder")
