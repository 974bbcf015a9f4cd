"""The one place the web app turns its model settings into `ModelPaths`: training runs, the Studio (dev and
distilled checkpoints) and the adapter checks all ask here, for one base model (`engine.bases`) at a time.

Settings (config/settings.py): MODEL_PRESET (tiny | demo | ltx-2.3), TINY_MODEL_DIR, TINY_MODEL_BASES, DEMO_MODEL_DIR,
and per real base its dev checkpoint, text encoder and distilled checkpoint (`Base.environment`: LTX_MODEL_PATH,
LTX_TEXT_ENCODER_PATH, LTX_DISTILLED_MODEL_PATH for LTX-2.3; LTX25_MODEL_PATH, LTX25_TEXT_ENCODER_PATH,
LTX25_DISTILLED_MODEL_PATH for LTX-2.5), each a diffusers-format folder or Lightricks' single-file .safetensors (the
text encoder then needed). A single file takes its component configs from the LTX-2.3 configs shipped with the engine
(engine/ltx23_configs), changed where its tensors say.

Which bases creators are offered (`available_bases`): the tiny preset's TINY_MODEL_BASES, the demo model's own
(LTX-2.3), or on the real preset each base whose dev checkpoint is set (MODEL_BASES). A worker loads the base a run or
an adapter records, when it has its files: the tiny model of any base is built on first use.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command

from engine.bases import LTX_2_3, get_base
from engine.model_paths import (
    DEMO,
    TINY,
    ModelPaths,
    ModelPathsError,
    PathNames,
    check_model_paths,
    environment_names,
)


class ImproperlyConfiguredModel(RuntimeError):
    """A model setting that is missing or points at the wrong kind of thing; the message names the setting."""


def available_bases() -> tuple[str, ...]:
    """The base models creators may train on and try adapters with here, the default first."""
    if settings.MODEL_PRESET == TINY:
        return tuple(settings.TINY_MODEL_BASES)
    if settings.MODEL_PRESET == DEMO:
        return (LTX_2_3,)  # the demo model is an LTX-2.3 model; there is no demo LTX-2.5
    # Real models: those configured; with none, LTX-2.3, whose missing path the console and the workers then name.
    return tuple(settings.MODEL_BASES) or (LTX_2_3,)


def default_base() -> str:
    """The base a draft starts on, and the one offered when there is no choice."""
    return available_bases()[0]


def tiny_model_dir(base: str) -> Path:
    """Where the tiny model of `base` is built: TINY_MODEL_DIR for LTX-2.3, a folder beside it for the others."""
    folder = Path(settings.TINY_MODEL_DIR)
    return folder if base == LTX_2_3 else folder.with_name(f"{folder.name}-{get_base(base).name}")


def model_paths(distilled: bool = False, base: str | None = None) -> ModelPaths:
    """The configured model of `base` (the default base when not given; its distilled checkpoint when asked), its
    paths checked; a tiny model is built if needed."""
    base = base or default_base()
    record = get_base(base)
    if settings.MODEL_PRESET == TINY:
        call_command("ensure_tiny_model", base=base)  # a fresh GPU machine builds it once
        return ModelPaths(path=tiny_model_dir(base), name=TINY)
    if settings.MODEL_PRESET == DEMO:
        if base != LTX_2_3:
            raise ImproperlyConfiguredModel(
                f"The demo model is an LTX-2.3 model; there is no demo {record.title}. An operator sets "
                f"MODEL_PRESET=ltx-2.3 and {record.environment[0]} to train and generate on {record.title}.")
        paths = ModelPaths(path=Path(settings.DEMO_MODEL_DIR), name=DEMO)
        try:
            check_model_paths(paths, PathNames("DEMO_MODEL_DIR"))
        except ModelPathsError as error:
            raise ImproperlyConfiguredModel(
                f"{error} The demo model ships in models/demo; rebuild it with "
                "`python -m training build-demo-model DIR` and point DEMO_MODEL_DIR at DIR."
            ) from error
        return paths
    model_setting, encoder_setting, distilled_setting = record.environment
    setting = distilled_setting if distilled else model_setting
    location = getattr(settings, setting)
    if not location:
        raise ImproperlyConfiguredModel(f"MODEL_PRESET is {settings.MODEL_PRESET} but {setting} is not set"
                                        f"{'' if base == settings.MODEL_PRESET else f' (for {record.title})'}.")
    encoder = getattr(settings, encoder_setting)
    names = replace(environment_names(base), path=setting)
    # The split layout's other files (LTX-2.5): the same files serve the dev and the distilled transformer.
    split = {field: Path(str(value)) for field in ("video_vae", "audio_vae", "text_projection")
             if record.split_environment and (value := getattr(settings, getattr(names, field)))}
    paths = ModelPaths(path=Path(str(location)), text_encoder=Path(str(encoder)) if encoder else None,
                       distilled=distilled, name=record.name, **split)
    try:
        check_model_paths(paths, names)
    except ModelPathsError as error:
        raise ImproperlyConfiguredModel(str(error)) from error
    return paths


def training_model(base: str | None = None) -> str | dict[str, Any]:
    """The `model` of a run's TrainConfig: a small model's folder as before, else the checked paths."""
    paths = model_paths(base=base)
    if paths.name in (TINY, DEMO):
        return str(paths.path)
    # The split layout's fields stay out unless set, so a run's stored config reads as before that layout existed.
    return paths.model_dump(mode="json", exclude={field for field in ("video_vae", "audio_vae", "text_projection")
                                                  if getattr(paths, field) is None})


def speed_model(base: str) -> str:
    """The name this server's measured speeds are kept under (training.models.MeasuredSpeed.model): the small
    preset's, or the real base's, with the base added for a small model of another base than LTX-2.3 (the names of the
    speeds measured before bases existed stay valid)."""
    if settings.MODEL_PRESET in (TINY, DEMO):
        return f"{settings.MODEL_PRESET}{get_base(base).cache_suffix}"
    return get_base(base).name
