"""The one place the web app turns its model settings into `ModelPaths`: training runs, the Studio (dev and
distilled checkpoints) and the adapter checks all ask here.

Settings (config/settings.py): MODEL_PRESET (tiny | demo | ltx-2.3), TINY_MODEL_DIR, DEMO_MODEL_DIR, LTX_MODEL_PATH
(a diffusers-format folder or Lightricks' single-file .safetensors), LTX_TEXT_ENCODER_PATH (the Gemma-3 folder,
needed with a single file) and LTX_DISTILLED_MODEL_PATH (the same kinds, for fast Studio previews). A single file
takes its component configs from the LTX-2.3 configs shipped with the engine (engine/ltx23_configs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command

from engine.model_paths import (
    DEMO,
    LTX_2_3,
    TINY,
    ModelPaths,
    ModelPathsError,
    PathNames,
    check_model_paths,
)


class ImproperlyConfiguredModel(RuntimeError):
    """A model setting that is missing or points at the wrong kind of thing; the message names the setting."""


def model_paths(distilled: bool = False) -> ModelPaths:
    """The configured model (the distilled checkpoint when asked), its paths checked; tiny is built if needed."""
    if settings.MODEL_PRESET == TINY:
        call_command("ensure_tiny_model")  # a fresh GPU machine builds it once
        return ModelPaths(path=Path(settings.TINY_MODEL_DIR), name=TINY)
    if settings.MODEL_PRESET == DEMO:
        paths = ModelPaths(path=Path(settings.DEMO_MODEL_DIR), name=DEMO)
        try:
            check_model_paths(paths, PathNames("DEMO_MODEL_DIR"))
        except ModelPathsError as error:
            raise ImproperlyConfiguredModel(
                f"{error} The demo model ships in models/demo; rebuild it with "
                "`python -m training build-demo-model DIR` and point DEMO_MODEL_DIR at DIR."
            ) from error
        return paths
    setting = "LTX_DISTILLED_MODEL_PATH" if distilled else "LTX_MODEL_PATH"
    location = getattr(settings, setting)
    if not location:
        raise ImproperlyConfiguredModel(f"MODEL_PRESET is ltx-2.3 but {setting} is not set.")
    encoder = settings.LTX_TEXT_ENCODER_PATH
    paths = ModelPaths(path=Path(str(location)), text_encoder=Path(str(encoder)) if encoder else None,
                       distilled=distilled, name=LTX_2_3)
    try:
        check_model_paths(paths, PathNames(setting, "LTX_TEXT_ENCODER_PATH"))
    except ModelPathsError as error:
        raise ImproperlyConfiguredModel(str(error)) from error
    return paths


def training_model() -> str | dict[str, Any]:
    """The `model` of a run's TrainConfig: the tiny or demo model's folder as before, else the checked paths."""
    paths = model_paths()
    if paths.name in (TINY, DEMO):
        return str(paths.path)
    return paths.model_dump(mode="json")
