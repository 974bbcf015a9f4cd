"""Where a model's weights live, in one shape for every caller: the web app's settings, a YAML `model:` and the
`ltx-2.3` / `ltx-2.5` presets all become a `ModelPaths`, checked by `check_model_paths` with errors that name the
setting.

A model is either a diffusers-format folder (`model_index.json` and one folder per component), Lightricks'
single-file checkpoint (transformer, text connectors, video and audio VAE and vocoder in one `.safetensors`), or
Lightricks' split files of LTX-2.5 (the transformer file, with `video_vae`, `audio_vae` and `text_projection` beside
it), each file plus the text-encoder folder (Gemma-3 for LTX-2.3, Lightricks' Gemma 4 for LTX-2.5); see
`single_file.py` for the files and `bases.py` for what tells the two bases apart.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .bases import BASES, LTX_2_3, LTX_2_5, get_base
from .single_file import CONFIG_FILES, LTX23_CONFIGS, SPLIT_FILES, SPLIT_PARTS, Part

TINY = "tiny"
# Bumped when `build_tiny_model` gives different weights for the same seed, so folders an older version built are
# rebuilt (2: an audio VAE and vocoder of LTX-2's layout, which can encode sound; the other components are unchanged).
TINY_LAYOUT = 2
DEMO = "demo"
MODEL_PRESETS = (TINY, DEMO, LTX_2_3, LTX_2_5)
# The small models that show what the product does on a CPU; adapters trained on them are demonstrations.
SMALL_MODELS = (TINY, DEMO)


class ModelPathsError(ValueError):
    """A model path that is missing or of the wrong kind; the message names the setting and what to give."""


class ModelPaths(BaseModel):
    """The files of one LTX-2 model on this machine. Also the mapping form of a training config's `model:`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(
        description="A diffusers-format LTX-2 folder (with model_index.json), or Lightricks' single-file checkpoint "
        "(.safetensors, e.g. ltx-2.3-22b-dev.safetensors) holding transformer, text connectors, VAEs and vocoder, or, "
        "with video_vae, audio_vae and text_projection, the transformer file of Lightricks' split LTX-2.5 download "
        "(diffusion_models/ltx-2.5-22b-dev-transformer-bf16.safetensors; the distilled one for a distilled model)."
    )
    text_encoder: Path | None = Field(
        default=None,
        description="The text-encoder folder (Gemma-3 for LTX-2.3, Lightricks' Gemma 4 for LTX-2.5): required with a "
        "single file; with a folder it replaces the folder's own text encoder.",
    )
    video_vae: Path | None = Field(
        default=None,
        description="Split layout (LTX-2.5, as Lightricks ships it; ltx-trainer's video_vae_path): the video-VAE file "
        "vae/ltx-2.5-video-vae-conv-bf16.safetensors. The other one, vae/ltx-2.5-video-vae-bf16.safetensors, has the "
        "diffusion decoder, which diffusers' AutoencoderKLLTX2Video cannot hold, and is refused. Leave out with a "
        "single file or a folder.",
    )
    audio_vae: Path | None = Field(
        default=None,
        description="Split layout: the audio VAE and vocoder file vae/ltx-2.5-audio-vae-bf16.safetensors "
        "(ltx-trainer's audio_vae_path).",
    )
    text_projection: Path | None = Field(
        default=None,
        description="Split layout: Lightricks' packed text-encoder file "
        "text_encoders/gemma4-12b-with-proj-ltx-2.5-bf16.safetensors (ltx-trainer's text_encoder_path), read only for "
        "the text projection (text_embedding_projection.*) it bundles: the transformer file has none. Gemma 4 itself "
        "still loads from text_encoder, a transformers folder.",
    )
    config: Path | None = Field(
        default=None,
        description="Single file only: a folder with the component configs (transformer/config.json, ...). "
        "Default: the LTX-2.3 configs shipped with the engine, which an LTX-2.5 file changes where its tensors say "
        "(see single_file.checkpoint_switches).",
    )
    distilled: bool = Field(
        default=False, description="The distilled checkpoint: its scheduler uses the given sigmas without shifting."
    )
    name: str = Field(
        default="custom",
        description="Model name stored in adapters (base_model) and cache keys; ltx-2.3 or ltx-2.5 also says which "
        "base the files must be.",
    )

    @property
    def single_file(self) -> bool:
        """Lightricks' files rather than a diffusers folder: one single file, or the split layout."""
        return not self.path.is_dir()

    @property
    def split(self) -> bool:
        """Lightricks' split layout: a file beside the transformer's is given."""
        return any(part is not None for part in (self.video_vae, self.audio_vae, self.text_projection))

    @property
    def configs(self) -> Path:
        """The folder with `<component>/config.json` for every component."""
        if not self.single_file:
            return self.path
        return self.config or LTX23_CONFIGS

    def label(self) -> str:
        """How adapters name their base model."""
        return self.name if self.name != "custom" else self.path.name


@dataclass(frozen=True)
class PathNames:
    """What the person who set the paths calls them, so that an error names the setting to change."""

    path: str = "model.path"
    text_encoder: str = "model.text_encoder"
    config: str = "model.config"
    video_vae: str = "model.video_vae"
    audio_vae: str = "model.audio_vae"
    text_projection: str = "model.text_projection"


def checkpoint_parts(paths: ModelPaths, names: PathNames = PathNames()) -> tuple[Part, ...]:
    """The files the loader reads Lightricks' components from (`single_file.Part`): the single file alone, or the
    split layout's four, each with the setting that names it."""
    if not paths.split:
        return (Part(paths.path, setting=names.path),)
    return tuple(
        Part(location, components, getattr(names, field))
        for field, components in SPLIT_PARTS.items()
        if (location := getattr(paths, field)) is not None
    )


def environment_names(base: str = LTX_2_3) -> PathNames:
    """The operator's variables for `base`'s dev checkpoint and text encoder (`bases.Base.environment`), and for the
    files of its split layout where it has one (`bases.Base.split_environment`)."""
    record = get_base(base)
    model, text_encoder, _distilled = record.environment
    if record.split_environment is None:
        return PathNames(model, text_encoder)
    video_vae, audio_vae, text_projection = record.split_environment
    return PathNames(model, text_encoder, video_vae=video_vae, audio_vae=audio_vae, text_projection=text_projection)


# The `ltx-2.3` preset reads the same variables the web app's settings read (config/settings.py).
ENVIRONMENT = environment_names(LTX_2_3)


def as_model_paths(spec: str | Path | Mapping[str, Any] | ModelPaths) -> ModelPaths:
    """A folder or file path, a mapping of `ModelPaths` fields, or `ModelPaths` itself (presets aside)."""
    if isinstance(spec, ModelPaths):
        return spec
    if isinstance(spec, Mapping):
        return ModelPaths.model_validate(dict(spec))
    return ModelPaths(path=Path(spec))


def model_label(model: str | ModelPaths) -> str:
    """How an adapter names its base model: the preset, the given name, or the folder's or file's name."""
    if isinstance(model, ModelPaths):
        return model.label()
    return model if model in MODEL_PRESETS else Path(model).name


def from_environment(environ: Mapping[str, str] | None = None, base: str = LTX_2_3) -> ModelPaths:
    """The `ltx-2.3` or `ltx-2.5` preset: the operator's LTX_MODEL_PATH (+ LTX_TEXT_ENCODER_PATH), or
    LTX25_MODEL_PATH (+ LTX25_TEXT_ENCODER_PATH, and for the split layout LTX25_VIDEO_VAE_PATH, LTX25_AUDIO_VAE_PATH
    and LTX25_TEXT_PROJECTION_PATH), as the web app reads them."""
    env = os.environ if environ is None else environ
    names = environment_names(base)
    model = env.get(names.path, "").strip()
    if not model:
        raise ModelPathsError(
            f"The {base} preset uses the operator's model paths, and {names.path} is not set. Set it (and "
            f"{names.text_encoder} for a single-file checkpoint) as for the web app, or give the files in "
            f"the config: model: {{path: ..., text_encoder: ..., name: {base}}}."
        )
    def optional(name: str) -> Path | None:
        value = env.get(name, "").strip()
        return Path(value) if value else None

    paths = ModelPaths(path=Path(model), text_encoder=optional(names.text_encoder), name=base)
    if get_base(base).split_environment is None:
        return paths
    return paths.model_copy(update={field: optional(getattr(names, field))
                                    for field in ("video_vae", "audio_vae", "text_projection")})


def check_model_paths(paths: ModelPaths, names: PathNames = PathNames()) -> None:
    """Raise ModelPathsError when a path is missing or of the wrong kind (cheap: no file is read)."""
    problem = (_model_problem(paths, names) or _split_problem(paths, names) or _text_encoder_problem(paths, names)
               or _config_problem(paths, names))
    if problem:
        raise ModelPathsError(problem)


def _model_problem(paths: ModelPaths, names: PathNames) -> str | None:
    path = paths.path
    if not path.exists():
        return f"{names.path} is {path}, but nothing is there."
    if path.is_dir():
        if (path / "diffusion_models").is_dir():
            return (f"{names.path} is {path}, Lightricks' download folder (diffusion_models/, vae/, text_encoders/): "
                    f"set {names.path} to its transformer file ({SPLIT_FILES['path']}, or the distilled one), "
                    + _split_settings(names) + ".")
        if not (path / "model_index.json").is_file():
            return (f"{names.path} is {path}, a folder without model_index.json: give a diffusers-format LTX-2 "
                    "folder, or the single-file checkpoint (a .safetensors file such as ltx-2.3-22b-dev.safetensors).")
        if paths.split:
            return (f"{names.path} is {path}, a diffusers folder, which brings its own VAEs and text projection: "
                    f"leave {names.video_vae}, {names.audio_vae} and {names.text_projection} unset.")
        return None
    if path.suffix != ".safetensors":
        return (f"{names.path} is {path}, a “{path.suffix or 'no extension'}” file: give the single-file checkpoint "
                "(a .safetensors file such as ltx-2.3-22b-dev.safetensors) or a diffusers-format LTX-2 folder.")
    if paths.text_encoder is None:
        return (f"{names.path} is a single-file checkpoint, which holds no text encoder: set {names.text_encoder} "
                f"to the Gemma-3 folder (such as gemma-3-12b-it-qat-q4_0-unquantized; for LTX-2.5, "
                f"{BASES[LTX_2_5].text_encoder.files}).")
    return None


def _split_settings(names: PathNames) -> str:
    settings = [f"{getattr(names, field)} to {SPLIT_FILES[field]}" for field in ("video_vae", "audio_vae",
                                                                                 "text_projection")]
    return ", ".join(settings[:-1]) + " and " + settings[-1]


def _split_problem(paths: ModelPaths, names: PathNames) -> str | None:
    """The split layout's files: all three beside the transformer file, each a .safetensors file that is there."""
    if not paths.split:
        return None
    unset = [getattr(names, field) for field in ("video_vae", "audio_vae", "text_projection")
             if getattr(paths, field) is None]
    if unset:
        return (f"{' and '.join(unset)} {'is' if len(unset) == 1 else 'are'} not set, but Lightricks' split layout "
                f"needs every file beside the transformer's: set " + _split_settings(names) + ".")
    for field in ("video_vae", "audio_vae", "text_projection"):
        location: Path = getattr(paths, field)
        setting = getattr(names, field)
        if not location.exists():
            return f"{setting} is {location}, but nothing is there."
        if location.is_dir() or location.suffix != ".safetensors":
            return f"{setting} is {location}, not a .safetensors file: set it to {SPLIT_FILES[field]}."
    return None


def _text_encoder_problem(paths: ModelPaths, names: PathNames) -> str | None:
    folder = paths.text_encoder
    if folder is None:
        return None
    if not folder.exists():
        return f"{names.text_encoder} is {folder}, but nothing is there."
    if folder.is_file() and folder.suffix == ".safetensors":
        return (f"{names.text_encoder} is {folder}, a .safetensors file such as Lightricks' packed text encoder "
                f"({SPLIT_FILES['text_projection']}): transformers cannot load Gemma from it as it is (its config "
                "sits in the file's metadata, its tokenizer in a tensor, its weights under ComfyUI's names). Set "
                f"{names.text_encoder} to the Gemma text-encoder folder (config.json, tokenizer, weights; for LTX-2.5 "
                "Lightricks' fine-tuned Gemma 4, gemma4-12b-ltx-v1), and give this file as "
                f"{names.text_projection}, which the text projection is read from.")
    if not folder.is_dir():
        return (f"{names.text_encoder} is {folder}, a file: it must be the Gemma-3 folder, or for LTX-2.5 the "
                "Gemma 4 folder (config.json, tokenizer, weights); Lightricks' packed LTX-2.5 text-encoder file is not "
                "read yet.")
    if not (folder / "config.json").is_file():
        return (f"{names.text_encoder} is {folder}, a folder without config.json: it must be the Gemma "
                "text-encoder folder (config.json, tokenizer, weights).")
    return None


def _config_problem(paths: ModelPaths, names: PathNames) -> str | None:
    if not paths.single_file or paths.config is None:
        return None  # a folder brings its own configs; the shipped LTX-2.3 ones are always there
    missing = [name for name in CONFIG_FILES.values() if not (paths.config / name).is_file()]
    if missing:
        return (f"{names.config} is {paths.config}, which lacks {', '.join(missing)}: it must hold the component "
                "configs of the single-file model, laid out like a diffusers pipeline folder.")
    return None


def is_current_tiny_model(folder: Path) -> bool:
    """Whether `folder` holds a tiny model built by this version of `engine.tiny_model.build_tiny_model` (read
    without torch: the web process checks it at start-up)."""
    try:
        marker = json.loads((folder / "iclora_preset.json").read_text())
    except (OSError, ValueError):
        return False
    return (folder / "model_index.json").exists() and marker.get("layout") == TINY_LAYOUT
