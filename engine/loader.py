"""The model loader: a model preset name, a folder or single file, or operator paths, to one `LTX2InContextPipeline`.

Every preset (`tiny`, `demo`, `ltx-2.3`, `ltx-2.5`, see `engine.model_paths`) ends up as the same pipeline class
loaded by `load_pipeline`, so the trainer and the Studio never know which one they run on. Which base model the files
are (`engine.bases`) is read from them, checked against the preset and the text encoder, and kept on the pipeline
(`iclora_base`). The tiny model is built on first use (`engine.tiny_model`).
"""

from __future__ import annotations

import gc
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .bases import BASES, Base, base_of_switches, connector_sizes
from .lora import quantize_text_encoder_int8
from .model_paths import (
    DEMO,
    LTX_2_3,
    LTX_2_5,
    MODEL_PRESETS,
    TINY,
    ModelPaths,
    ModelPathsError,
    PathNames,
    as_model_paths,
    check_model_paths,
    checkpoint_parts,
    environment_names,
    from_environment,
    is_current_tiny_model,
)
from .single_file import (
    COMPONENTS,
    SPLIT_FILES,
    Overrides,
    SingleFileError,
    checkpoint_switches,
    component_of,
    load_components,
    read_header,
    read_layout,
)
from .tiny_model import build_tiny_model

__all__ = ["DEMO", "LTX_2_3", "LTX_2_5", "MODEL_PRESETS", "TINY", "ModelPaths", "ModelPathsError", "PathNames"]

# The trained demo model shipped with the project (built by `python -m training build-demo-model`).
SHIPPED_DEMO_MODEL = Path(__file__).resolve().parents[1] / "models" / "demo"


def pick_device_and_dtype(device: str | None = None) -> tuple[torch.device, torch.dtype]:
    """The one place that decides where and in which precision models run: CUDA bf16, else CPU fp32.

    bf16 brings no speed on CPU and hurts exactness (resume tests, tiny-model learning), hence fp32 there.
    """
    if device is None or device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)


def resolve_model(
    spec: str | Path | Mapping[str, Any] | ModelPaths, names: PathNames | None = None
) -> ModelPaths:
    """A preset name, a folder or single-file path, a mapping of `ModelPaths` fields or `ModelPaths`, checked.

    `tiny` resolves to `$ICLORA_TINY_MODEL_DIR` (built on first use, under `~/.cache/iclora/tiny` by default);
    `demo` to `$ICLORA_DEMO_MODEL_DIR`, by default the trained demo model shipped in `models/demo`;
    `ltx-2.3` to the operator's `LTX_MODEL_PATH` / `LTX_TEXT_ENCODER_PATH` and `ltx-2.5` to `LTX25_MODEL_PATH` /
    `LTX25_TEXT_ENCODER_PATH`, the variables the web app's settings read: the real weights cannot be downloaded here.
    Raises ModelPathsError naming `names` (the setting) when a path is missing or of the wrong kind.
    """
    if isinstance(spec, str) and spec == TINY:
        root = Path(os.environ.get("ICLORA_TINY_MODEL_DIR", Path.home() / ".cache" / "iclora" / "tiny"))
        if not is_current_tiny_model(root):
            build_tiny_model(root)
        return ModelPaths(path=root, name=TINY)
    if isinstance(spec, str) and spec == DEMO:
        root = Path(os.environ.get("ICLORA_DEMO_MODEL_DIR", SHIPPED_DEMO_MODEL))
        check_model_paths(ModelPaths(path=root), PathNames("ICLORA_DEMO_MODEL_DIR (the demo model)"))
        return ModelPaths(path=root, name=DEMO)
    if isinstance(spec, str) and spec in BASES:
        # the paths are the operator's, whoever asked
        paths, names = from_environment(base=spec), environment_names(spec)
    elif isinstance(spec, str | Path):
        paths, names = as_model_paths(spec), names or PathNames("model")
        if paths.path.is_dir():  # a folder built by build_tiny_model says so
            paths = paths.model_copy(update={"name": _preset_name(paths.path)})
    else:
        paths = as_model_paths(spec)
    check_model_paths(paths, names or PathNames())
    return paths


def base_of(paths: ModelPaths, names: PathNames | None = None) -> Base:
    """The base model the files are (`engine.bases`), read from the transformer's config (a folder) or the tensors of
    a single file, never from a name; only configs and the file's header are read.

    Raises ModelPathsError naming the setting when the files are of another base than their name asks for (an
    LTX-2.5 checkpoint set as LTX_MODEL_PATH), or the text encoder is of another family than the base needs (a
    Gemma-3 folder beside an LTX-2.5 transformer): loading would fail later with a shape error, or not at all.
    """
    names = names or PathNames()
    found = base_of_switches(_transformer_switches(paths))
    asked = BASES.get(paths.name)
    if asked is not None and asked.name != found.name:
        raise ModelPathsError(
            f"{names.path} is {paths.path}, an {found.title} model by its transformer, but it is given as "
            f"{asked.title}: set it as {found.environment[0]} instead."
        )
    encoder_config = _text_encoder_config(paths)
    family = encoder_config.get("model_type")
    if family is not None and family != found.text_encoder.family:
        where = (f"{names.text_encoder} is {paths.text_encoder}" if paths.text_encoder is not None
                 else f"{names.path} has in text_encoder/")
        raise ModelPathsError(
            f"{where} a {family} text encoder, but {found.title} needs {found.text_encoder.files} "
            f"({found.text_encoder.family}): captions encoded by another text encoder mean nothing to it."
        )
    return found


def _check_files(paths: ModelPaths, names: PathNames) -> None:
    """What Lightricks' files' headers say is wrong, said before the text encoder (minutes for the real Gemma) loads:
    a file holding another component than its setting says, a diffusion-decoder video VAE (SingleFileError), or the
    transformer file of the split layout given alone (ModelPathsError: read as a single file it would be refused for
    lacking the VAEs, and the settings to give would go unsaid). The configs are compared when the weights load."""
    if not paths.single_file:
        return
    if paths.split:
        layout = read_layout(checkpoint_parts(paths, names))
        if layout.misplaced:
            raise SingleFileError("; ".join(layout.misplaced) + ".")
        return
    shapes, _metadata = read_header(paths.path)
    held = {component_of(key) for key in shapes}
    if "transformer" in held and not held & {"vae", "audio_vae", "vocoder"}:
        raise ModelPathsError(
            f"{names.path} is {paths.path.name}, the transformer file of Lightricks' split layout: the video VAE, the "
            f"audio VAE with the vocoder and the text projection are in files of their own. Set {names.video_vae} to "
            f"{SPLIT_FILES['video_vae']}, {names.audio_vae} to {SPLIT_FILES['audio_vae']} and {names.text_projection} "
            f"to {SPLIT_FILES['text_projection']}."
        )


def _transformer_switches(paths: ModelPaths) -> dict[str, Any]:
    if paths.single_file:
        shapes, _metadata = read_header(paths.path)
        return checkpoint_switches(shapes)
    config = paths.path / "transformer" / "config.json"
    if not config.is_file():
        raise ModelPathsError(f"{paths.path} is a diffusers folder without transformer/config.json: it is not a whole "
                              "LTX-2 pipeline.")
    return dict(json.loads(config.read_text(encoding="utf-8")))


def _text_encoder_config(paths: ModelPaths) -> dict[str, Any]:
    """The text encoder's config.json ({} when there is none to read, e.g. a folder loaded without one)."""
    folder = paths.text_encoder if paths.text_encoder is not None else paths.path / "text_encoder"
    config = folder / "config.json"
    return dict(json.loads(config.read_text(encoding="utf-8"))) if config.is_file() else {}


def single_file_overrides(paths: ModelPaths) -> Overrides:
    """What a single file changes in the configs of `paths.configs`: the transformer switches its tensors show, and
    the connectors' input sizes from the text encoder's config (`bases.connector_sizes`), so one config folder
    serves LTX-2.3 and LTX-2.5 files."""
    overrides: dict[str, dict[str, Any]] = {"transformer": _transformer_switches(paths)}
    encoder_config = _text_encoder_config(paths)
    if "hidden_size" in encoder_config.get("text_config", encoder_config):
        overrides["connectors"] = dict(connector_sizes(encoder_config))
    return overrides


def _preset_name(path: Path) -> str:
    marker = path / "iclora_preset.json"
    if marker.exists():
        return str(json.loads(marker.read_text()).get("preset", "custom"))
    return "custom"


def load_pipeline(
    spec: str | Path | Mapping[str, Any] | ModelPaths,
    device: str | None = None,
    dtype: torch.dtype | None = None,
    with_text_encoder: bool = True,
    names: PathNames | None = None,
    with_transformer: bool = True,
    int8_text_encoder: bool = False,
) -> Any:
    """Load an `LTX2InContextPipeline` for the tiny model and for the real one, through one code path.

    `spec` is what `resolve_model` takes: a diffusers folder loads with `from_pretrained`; Lightricks' single file,
    or its split files (`ModelPaths.split`), through `single_file.load_components` with the configs of
    `ModelPaths.configs`.
    `with_text_encoder=False` leaves Gemma out (`ensure_text_encoder` loads it when a prompt must be encoded);
    `with_transformer=False` leaves the transformer out (`attach_transformer` adds it later). Training uses
    both, so the 12B encoder and the 22B transformer are never in GPU memory together. `int8_text_encoder`
    quantizes Gemma on the CPU before it moves to `device` (training with `quantize: int8`). Returns the
    pipeline on `device` in `dtype` (default: `pick_device_and_dtype`).
    """
    paths = resolve_model(spec, names)
    names = environment_names(spec) if isinstance(spec, str) and spec in BASES else names or PathNames()
    _check_files(paths, names)
    base = base_of(paths, names)
    dev, default_dtype = pick_device_and_dtype(device)
    dtype = dtype or default_dtype
    text_encoder = _text_encoder(paths, dtype, int8_text_encoder, own=int8_text_encoder) if with_text_encoder else None
    if paths.single_file:
        pipe = _pipeline_from_single_file(paths, dtype, text_encoder, with_transformer, names)
    else:
        overrides: dict[str, Any] = {} if with_text_encoder and text_encoder is None else {"text_encoder": text_encoder}
        if not with_transformer:
            overrides["transformer"] = None
        pipe = _pipeline_from_folder(paths, dtype, overrides)
    if paths.distilled:
        # Lightricks' distilled sigmas are final: no resolution-dependent shift, no terminal stretch.
        pipe.scheduler = pipe.scheduler.__class__.from_config(
            pipe.scheduler.config, use_dynamic_shifting=False, shift_terminal=None
        )
    pipe.to(dev)
    pipe.set_progress_bar_config(disable=True)
    pipe.iclora_model_name, pipe.iclora_base = paths.name, base.name
    # What `ensure_text_encoder` and `attach_transformer` load from later.
    pipe.iclora_paths, pipe.iclora_int8_text_encoder = paths, int8_text_encoder
    return pipe


def _text_encoder(paths: ModelPaths, dtype: torch.dtype, int8: bool = False, own: bool = False) -> Any:
    """Gemma, quantized when `int8`: from the separately configured folder when there is one; else from the
    pipeline folder's `text_encoder` when `own`, or None, leaving it to the pipeline's `from_pretrained`."""
    if paths.text_encoder is None and not own:
        return None
    # transformers (seconds): loaded only when a model is built, not by every module that imports this one
    from transformers import AutoModelForImageTextToText

    if paths.text_encoder is not None:
        encoder = AutoModelForImageTextToText.from_pretrained(str(paths.text_encoder), dtype=dtype)
    else:
        encoder = AutoModelForImageTextToText.from_pretrained(str(paths.path), subfolder="text_encoder", dtype=dtype)
    if int8:
        quantize_text_encoder_int8(encoder)
    return encoder


def ensure_text_encoder(pipe: Any) -> Any:
    """The pipeline's Gemma text encoder, loaded now onto the VAE's device if the pipeline was loaded without it."""
    if pipe.text_encoder is None:
        encoder = _text_encoder(pipe.iclora_paths, pipe.vae.dtype, pipe.iclora_int8_text_encoder, own=True)
        pipe.register_modules(text_encoder=encoder.to(pipe.vae.device).eval())
    return pipe.text_encoder


def encoding_name(pipe: Any) -> str:
    """What cached text embeddings are keyed on: the model and its base, and whether its text encoder ran in int8."""
    name = getattr(pipe, "iclora_model_name", "custom") + BASES[getattr(pipe, "iclora_base", LTX_2_3)].cache_suffix
    return f"{name}+int8-text-encoder" if getattr(pipe, "iclora_int8_text_encoder", False) else name


def release_text_encoder(pipe: Any) -> None:
    """Drop Gemma and give its memory back (prompts are cached as embeddings; it is needed no more)."""
    if pipe.text_encoder is None:
        return
    device = pipe.text_encoder.device
    pipe.register_modules(text_encoder=None)
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def load_transformer(paths: ModelPaths, dtype: torch.dtype) -> Any:
    """The transformer alone, on the CPU, from the folder, the single file or the split files `paths` names."""
    if paths.single_file:
        overrides = single_file_overrides(paths)
        return load_components(checkpoint_parts(paths), paths.configs, dtype, only=("transformer",),
                               overrides=overrides)["transformer"]
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from diffusers import LTX2VideoTransformer3DModel

    return LTX2VideoTransformer3DModel.from_pretrained(str(paths.path), subfolder="transformer", torch_dtype=dtype)


def attach_transformer(pipe: Any, transformer: Any) -> None:
    """Put a transformer into a pipeline loaded with `with_transformer=False`, on the pipeline's device."""
    pipe.register_modules(transformer=transformer.to(pipe.vae.device))
    pipe.transformer_spatial_patch_size = transformer.config.patch_size
    pipe.transformer_temporal_patch_size = transformer.config.patch_size_t


def _pipeline_from_folder(paths: ModelPaths, dtype: torch.dtype, overrides: dict[str, Any]) -> Any:
    # diffusers (seconds): loaded only when a pipeline is built, not by every module that imports this one
    from .pipeline import ICLoRAPipeline

    return ICLoRAPipeline.from_pretrained(str(paths.path), dtype=dtype, **overrides)


def _pipeline_from_single_file(
    paths: ModelPaths, dtype: torch.dtype, text_encoder: Any, with_transformer: bool = True,
    names: PathNames | None = None,
) -> Any:
    # diffusers/transformers (seconds): loaded only when a pipeline is built, not by every importer
    from diffusers import FlowMatchEulerDiscreteScheduler
    from transformers import AutoTokenizer

    from .pipeline import ICLoRAPipeline

    configs = paths.configs
    # A config folder may carry the tokenizer; Lightricks' layout has it in the Gemma folder.
    tokenizer_dir = configs / "tokenizer" if (configs / "tokenizer").is_dir() else paths.text_encoder
    return ICLoRAPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler.from_pretrained(str(configs), subfolder="scheduler"),
        tokenizer=AutoTokenizer.from_pretrained(str(tokenizer_dir)),
        text_encoder=text_encoder,
        **_single_file_components(paths, dtype, with_transformer, names),
    )


def _single_file_components(
    paths: ModelPaths, dtype: torch.dtype, with_transformer: bool, names: PathNames | None = None
) -> dict[str, Any]:
    only = tuple(c for c in COMPONENTS if with_transformer or c != "transformer")
    components = load_components(checkpoint_parts(paths, names or PathNames()), paths.configs, dtype, only=only,
                                 overrides=single_file_overrides(paths))
    return components if with_transformer else {**components, "transformer": None}


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def latent_shape(pipe: Any, frames: int, height: int, width: int) -> tuple[int, int, int]:
    """Latent (frames, height, width) of a pixel clip, using the pipeline's own compression ratios."""
    t, s = pipe.vae_temporal_compression_ratio, pipe.vae_spatial_compression_ratio
    return (frames - 1) // t + 1, math.ceil(height / s), math.ceil(width / s)
