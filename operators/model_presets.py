"""Every model path this installation is configured with, checked and explained for the console."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from engine.bases import BASES, LTX_2_3, Base
from operators import model_checks
from operators.model_checks import PathCheck
from training.models_config import available_bases, tiny_model_dir

OK, OFF, PROBLEM = "ok", "off", "problem"
MODEL_PRESET_SUMMARIES = {
    "tiny": "A small random model built on this machine: CPU and tests; its pictures are colour static. "
            "TINY_MODEL_BASES says which bases it offers (a tiny model of each).",
    "demo": "A small trained model shipped with the app: real (small, blurry) pictures on a CPU, to show what an "
            "adapter does. LTX-2.3 only.",
    "ltx-2.3": "The real models from the paths below: LTX-2.3, LTX-2.5 or both, each whose dev checkpoint is set.",
}


@dataclass(frozen=True)
class ModelRow:
    label: str
    setting: str
    path: str
    status: str  # OK, OFF (not configured, optional) or PROBLEM
    message: str
    details: tuple[str, ...]
    active: bool  # used by the active preset


@dataclass(frozen=True)
class PresetSummary:
    name: str
    description: str
    active: bool
    ready: bool


@dataclass(frozen=True)
class BaseSummary:
    """One base model (engine.bases) as this installation has it: offered to creators or not, and ready or not."""

    name: str
    title: str
    offered: bool
    ready: bool
    settings: tuple[str, ...]  # the rows (settings) it is loaded from


def model_rows() -> list[ModelRow]:
    tiny, demo, ltx = (name == settings.MODEL_PRESET for name in ("tiny", "demo", "ltx-2.3"))
    offered = available_bases()
    return [
        _tiny_row(tiny and LTX_2_3 in offered),
        *(_tiny_base_row(base) for base in BASES.values() if base.name != LTX_2_3 and tiny and base.name in offered),
        _row("Demo model", "DEMO_MODEL_DIR", settings.DEMO_MODEL_DIR, model_checks.check_diffusers_folder,
             active=demo, unset=(OFF, "")),
        *(row for base in BASES.values() for row in _base_rows(base, ltx and base.name in offered)),
        _row("Depth model", "DEPTH_MODEL_PATH", settings.DEPTH_MODEL_PATH,
             lambda path: model_checks.check_model_folder(path, "depth estimation"), active=False,
             unset=(OFF, "Not configured — automatic depth references are off.")),
        _row("Point-tracking model", "TRACK_MODEL_PATH", settings.TRACK_MODEL_PATH, model_checks.check_track_model,
             active=False, unset=(OFF, "Not configured — motion tracks follow points with optical flow (OpenCV).")),
        _row("Captioning model", "CAPTION_MODEL_PATH", settings.CAPTION_MODEL_PATH,
             lambda path: model_checks.check_model_folder(path, "captioning"), active=False,
             unset=(OFF, "Not configured — automatic captions are off.")),
        _pose_row(),
    ]


def _base_rows(base: Base, active: bool) -> list[ModelRow]:
    """A real base's dev checkpoint, text encoder and distilled checkpoint, each checked as being of that base."""
    model_setting, encoder_setting, distilled_setting = base.environment
    model, encoder, distilled = (getattr(settings, name) for name in base.environment)
    # A single-file checkpoint (dev or distilled) has no text encoder in it: the Gemma folder is then needed.
    single_file = any(value and Path(str(value)).is_file() for value in (model, distilled))
    encoder_unset = (PROBLEM, "Not configured — a single-file checkpoint needs the Gemma folder beside it.") \
        if active and single_file else (OFF, "Not configured — a diffusers folder brings its own text encoder.")
    # Lightricks' split download: its transformer files are checked as such, and its other files get rows of their own.
    split_settings = base.split_environment or ()
    split = any(getattr(settings, name) for name in split_settings)
    split_rows = [
        _row(f"{base.title} {what}", setting, getattr(settings, setting),
             _split_check(part), active=active and split,
             unset=(PROBLEM, "Not configured — Lightricks' split download needs every file beside the transformer's.")
             if active and split else (OFF, "Not configured — only Lightricks' split download needs it."))
        for setting, part, what in zip(split_settings, ("video_vae", "audio_vae", "text_projection"),
                                       ("video VAE", "audio VAE and vocoder", "text projection"), strict=True)
    ] if split_settings else []
    return [
        _row(f"{base.title} dev model", model_setting, model,
             lambda path: model_checks.check_model_location(path, base.name, split), active=active,
             unset=(PROBLEM, "Not configured — training and the Studio cannot run until it is set.")
             if active else (OFF, f"Not configured — {base.title} is not offered to creators.")),
        _row(f"{base.title} text encoder ({base.text_encoder.family})", encoder_setting, encoder,
             lambda path: model_checks.check_text_encoder_folder(path, base.name), active=active and single_file,
             unset=encoder_unset),
        _row(f"{base.title} distilled model", distilled_setting, distilled,
             lambda path: model_checks.check_model_location(path, base.name, split), active=active,
             unset=(OFF, "Not configured — Studio previews use the dev checkpoint.")),
        *split_rows,
    ]


def _split_check(part: str) -> Callable[[Path], model_checks.PathCheck]:
    return lambda path: model_checks.check_split_file(path, part)


def base_summaries(rows: list[ModelRow]) -> list[BaseSummary]:
    """Each base model by name: offered to creators or not, and whether the rows it is loaded from have no problem."""
    offered = available_bases()
    small = settings.MODEL_PRESET in ("tiny", "demo")
    summaries = []
    for base in BASES.values():
        used: tuple[str, ...]
        if small:
            used = {"tiny": ("TINY_MODEL_DIR" if base.name == LTX_2_3 else "TINY_MODEL_BASES",),
                    "demo": ("DEMO_MODEL_DIR",)}[str(settings.MODEL_PRESET)]
        else:
            used = base.environment + (base.split_environment or ())
        ready = base.name in offered and not any(row.status == PROBLEM for row in rows if row.setting in used
                                                 and row.active)
        summaries.append(BaseSummary(base.name, base.title, base.name in offered, ready, used))
    return summaries


def preset_summaries(rows: list[ModelRow]) -> list[PresetSummary]:
    """Each preset, whether it is the active one, and whether the rows it needs have no problem."""
    active = str(settings.MODEL_PRESET)
    ready = not any(row.status == PROBLEM for row in rows if row.active)
    return [PresetSummary(name, text, name == active, ready if name == active else False)
            for name, text in MODEL_PRESET_SUMMARIES.items()]


def _tiny_row(active: bool) -> ModelRow:
    path = Path(settings.TINY_MODEL_DIR)
    if not path.exists():
        # Workers build it on first use (ensure_tiny_model), so a missing folder is expected on a new machine.
        message = "Not built yet — a worker builds it the first time it needs it." if active else \
            "Not built — only the tiny preset uses it."
        return ModelRow("Tiny model", "TINY_MODEL_DIR", str(path), OFF, message, (), active)
    return _from_check("Tiny model", "TINY_MODEL_DIR", str(path), model_checks.check_diffusers_folder(path), active)


def _tiny_base_row(base: Base) -> ModelRow:
    """The tiny model of another base than LTX-2.3, which TINY_MODEL_BASES brings in, beside TINY_MODEL_DIR."""
    path = tiny_model_dir(base.name)
    label = f"Tiny {base.title} model"
    if not path.exists():
        return ModelRow(label, "TINY_MODEL_BASES", str(path), OFF,
                        "Not built yet — a worker builds it the first time it needs it.", (), True)
    return _from_check(label, "TINY_MODEL_BASES", str(path), model_checks.check_model_location(path, base.name), True)


def _pose_row() -> ModelRow:
    path = Path(settings.POSE_PYTHON)
    check = model_checks.check_interpreter(path)
    if not path.exists():
        return ModelRow("Pose interpreter", "POSE_PYTHON", str(path), OFF,
                        "Interpreter missing — automatic pose references are off.", (), False)
    return _from_check("Pose interpreter", "POSE_PYTHON", str(path), check, False)


def _row(label: str, setting: str, value: object, check: Callable[[Path], PathCheck], *, active: bool,
         unset: tuple[str, str]) -> ModelRow:
    if not value:
        return ModelRow(label, setting, "", unset[0], unset[1], (), active)
    path = Path(str(value))
    return _from_check(label, setting, str(path), check(path), active)


def _from_check(label: str, setting: str, path: str, check: PathCheck, active: bool) -> ModelRow:
    return ModelRow(label, setting, path, OK if check.ok else PROBLEM, check.summary, check.details, active)


@dataclass(frozen=True)
class MemorySetting:
    setting: str
    value: str
    meaning: str


def memory_settings() -> list[MemorySetting]:
    """How the GPUs are used, as this web server reads the settings (workers read their own environment)."""
    int8_training, int8_studio = settings.TRAINING_QUANTIZE == "int8", settings.STUDIO_QUANTIZE == "int8"
    return [
        MemorySetting("TRAINING_GPU_MEMORY_GB", f"{settings.TRAINING_GPU_MEMORY_GB} GB",
                      "The wizard shows its estimate against this card and refuses settings that would not fit."),
        MemorySetting("TRAINING_QUANTIZE", settings.TRAINING_QUANTIZE,
                      "Training stores the transformer (and the text encoder while it encodes) in int8: about 18 GB "
                      "less." if int8_training else "Training uses bf16 weights."),
        MemorySetting("STUDIO_QUANTIZE", settings.STUDIO_QUANTIZE,
                      "The Studio stores the transformer and text encoder in int8: about 37 GB instead of 66."
                      if int8_studio
                      else "The Studio uses bf16 weights."),
    ]
