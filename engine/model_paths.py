"""Where a model's weights live, in one shape for every caller: the web app's settings, a YAML `model:` and the
`ltx-2.3` / `ltx-2.5` presets all become a `ModelPaths`, checked by `check_model_paths` with errors that name the
setting.

A model is either a diffusers-format folder (`model_index.json` and one folder per component) or Lightricks'
single-file checkpoint (transformer, text connectors, video and audio VAE and vocoder in one `.safetensors`)
plus the text-encoder folder (Gemma-3 for LTX-2.3, Lightricks' Gemma 4 for LTX-2.5); see `single_file.py` for the
latter and `bases.py` for what tells the two bases apart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .bases import BASES, LTX_2_3, LTX_2_5, get_base
from .single_file import CONFIG_FILES, LTX23_CONFIGS

TINY = "tiny"
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
        "(.safetensors, e.g. ltx-2.3-22b-dev.safetensors) holding transformer, text connectors, VAEs and vocoder."
    )
    text_encoder: Path | None = Field(
        default=None,
        description="The text-encoder folder (Gemma-3 for LTX-2.3, Lightricks' Gemma 4 for LTX-2.5): required with a "
        "single file; with a folder it replaces the folder's own text encoder.",
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
        return not self.path.is_dir()

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


def environment_names(base: str = LTX_2_3) -> PathNames:
    """The operator's variables for `base`'s dev checkpoint and text encoder (`bases.Base.environment`)."""
    model, text_encoder, _distilled = get_base(base).environment
    return PathNames(model, text_encoder)


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
    LTX25_MODEL_PATH (+ LTX25_TEXT_ENCODER_PATH), as the web app reads them."""
    env = os.environ if environ is None else environ
    names = environment_names(base)
    model = env.get(names.path, "").strip()
    if not model:
        raise ModelPathsError(
            f"The {base} preset uses the operator's model paths, and {names.path} is not set. Set it (and "
            f"{names.text_encoder} for a single-file checkpoint) as for the web app, or give the files in "
            f"the config: model: {{path: ..., text_encoder: ..., name: {base}}}."
        )
    encoder = env.get(names.text_encoder, "").strip()
    return ModelPaths(path=Path(model), text_encoder=Path(encoder) if encoder else None, name=base)


def check_model_paths(paths: ModelPaths, names: PathNames = PathNames()) -> None:
    """Raise ModelPathsError when a path is missing or of the wrong kind (cheap: no file is read)."""
    problem = _model_problem(paths, names) or _text_encoder_problem(paths, names) or _config_problem(paths, names)
    if problem:
        raise ModelPathsError(problem)


def _model_problem(paths: ModelPaths, names: PathNames) -> str | None:
    path = paths.path
    if not path.exists():
        return f"{names.path} is {path}, but nothing is there."
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            return (f"{names.path} is {path}, a folder without model_index.json: give a diffusers-format LTX-2 "
                    "folder, or the single-file checkpoint (a .safetensors file such as ltx-2.3-22b-dev.safetensors).")
        return None
    if path.suffix != ".safetensors":
        return (f"{names.path} is {path}, a “{path.suffix or 'no extension'}” file: give the single-file checkpoint "
                "(a .safetensors file such as ltx-2.3-22b-dev.safetensors) or a diffusers-format LTX-2 folder.")
    if paths.text_encoder is None:
        return (f"{names.path} is a single-file checkpoint, which holds no text encoder: set {names.text_encoder} "
                f"to the Gemma-3 folder (such as gemma-3-12b-it-qat-q4_0-unquantized; for LTX-2.5, "
                f"{BASES[LTX_2_5].text_encoder.files}).")
    return None


def _text_encoder_problem(paths: ModelPaths, names: PathNames) -> str | None:
    folder = paths.text_encoder
    if folder is None:
        return None
    if not folder.exists():
        return f"{names.text_encoder} is {folder}, but nothing is there."
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
