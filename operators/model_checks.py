"""Checks of configured model paths that read folders and file headers only, never weights.

Framework-free: each function takes a path and returns a `PathCheck` in plain words, so the console,
a management command or a worker can all reuse them.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.bases import BASES, Base, base_of_switches
from engine.single_file import (
    COMPONENTS,
    DESCRIPTIONS,
    SPLIT_FILES,
    SPLIT_PARTS,
    Part,
    SingleFileError,
    checkpoint_switches,
    read_header,
    read_layout,
)
from prep.extract.track_model import saved_format, track_model_problem

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
# A video feed-forward weight of a single file: only beside one does a missing bias say LTX-2.5 (engine.bases).
FEED_FORWARD_WEIGHT = re.compile(r"model\.diffusion_model\.transformer_blocks\.\d+\.ff\.net\.\d+(\.proj)?\.weight$")
MAX_SHOWN_METADATA = 8


@dataclass(frozen=True)
class PathCheck:
    ok: bool
    summary: str  # one plain sentence, e.g. "OK: LTX-2 diffusers pipeline, 5 components"
    details: tuple[str, ...] = ()


def check_model_location(path: Path, base: str | None = None, split: bool = False) -> PathCheck:
    """An LTX model given either as a diffusers folder or as a single-file .safetensors checkpoint, or with `split`
    as the transformer file of Lightricks' split download; with `base` (engine.bases), also that its transformer is of
    that base, where the files tell (`model_base`)."""
    if path.is_dir():
        check = check_diffusers_folder(path)
    elif path.is_file():
        check = check_split_file(path, "path") if split else check_ltx_single_file(path, base)
    else:
        return PathCheck(False, "Nothing at this path: neither a folder nor a file exists there.")
    found = model_base(path) if check.ok and base is not None else None
    if found is not None and base is not None and found.name != base:
        asked = BASES[base]
        return PathCheck(False, f"An {found.title} model by its transformer, but set up as {asked.title}: set it as "
                         f"{found.environment[0]} instead.", check.details)
    return check


def model_base(path: Path) -> Base | None:
    """The base model (engine.bases) a folder's transformer config or a single file's tensors are of; None when they
    do not tell: no transformer config, or a file without the feed-forward weights whose biases tell the bases
    apart."""
    if path.is_dir():
        config = _read_json(path / "transformer" / "config.json")
        return base_of_switches(config) if config is not None else None
    try:
        shapes, _metadata = read_header(path)
    except (OSError, ValueError):
        return None
    if not any(FEED_FORWARD_WEIGHT.match(key) for key in shapes):
        return None
    return base_of_switches(checkpoint_switches(shapes))


def check_ltx_single_file(path: Path, base: str | None = None) -> PathCheck:
    """Lightricks' single-file checkpoint, its header sorted into components the way the loader sorts it, named by
    its base model (the one its tensors show, else `base`, else LTX-2.3).

    The loader (engine/single_file.py) needs all five components and, with the LTX-2.3 configs it ships (changed where
    an LTX-2.5 file's tensors say), LTX-2.3's names; it then compares every tensor's name and shape before reading
    weights. Only the header is read here, so a problem that check would find is said when a worker loads the file.
    """
    header = check_safetensors_file(path)
    if not header.ok:
        return header
    layout = read_layout(path)
    missing = [DESCRIPTIONS[name] for name in COMPONENTS if not layout.components[name]]
    record = BASES[base] if base is not None else None
    split_names = record.split_environment if record is not None else None
    if missing and layout.components["transformer"] and split_names and not layout.components["vae"]:
        video_vae, audio_vae, projection = split_names
        return PathCheck(False, "The transformer file of Lightricks' split download: the VAEs and the text projection "
                         f"are in files of their own. Set {video_vae} to {SPLIT_FILES['video_vae']}, {audio_vae} to "
                         f"{SPLIT_FILES['audio_vae']} and {projection} to {SPLIT_FILES['text_projection']}.",
                         header.details)
    if missing:
        return PathCheck(False, "A safetensors file, but not an LTX single-file checkpoint: it holds no "
                         f"{'; no '.join(missing)}.", header.details)
    counts = ", ".join(f"{name} {len(layout.components[name]):,}" for name in COMPONENTS)
    details = (f"tensors per component: {counts}", *header.details)
    if not any(name.startswith("prompt_adaln.") for name in layout.components["transformer"]):
        return PathCheck(False, "An LTX-2 (19B) single-file checkpoint; single files are loaded as LTX-2.3 (22B). "
                         "Use the LTX-2.3 checkpoint, or a diffusers-format folder of this model.", details)
    found = model_base(path)
    title = found.title if found is not None else BASES[base or "ltx-2.3"].title
    return PathCheck(True, header.summary.replace("single-file checkpoint", f"{title} single-file checkpoint"), details)


def check_split_file(path: Path, part: str) -> PathCheck:
    """One file of Lightricks' split LTX-2.5 download (`part`: a key of engine.single_file.SPLIT_PARTS): its header
    holds what that file is set for, and a video VAE has the convolutional decoder diffusers' class can hold."""
    header = check_safetensors_file(path)
    if not header.ok:
        return header
    wanted = SPLIT_PARTS[part]
    try:
        layout = read_layout((Part(path, wanted, "this file"),))
    except SingleFileError as error:
        return PathCheck(False, str(error).replace("this file is ", "This is ", 1), header.details)
    held = {name: len(layout.components[name]) for name in wanted if layout.components[name]}
    if part == "text_projection":
        projection = sum(name.startswith("text_embedding_projection") or "text_proj_in" in name
                         for name in layout.components["connectors"])
        held = {"connectors": projection} if projection else {}
    what = ("text projection" if part == "text_projection"
            else " and ".join(DESCRIPTIONS[name].split(" (")[0] for name in wanted))
    if not held or (part == "path" and "transformer" not in held):
        return PathCheck(False, f"Not the file this setting needs: it holds no {what}. Lightricks ships it as "
                         f"{SPLIT_FILES[part]}.", header.details)
    counts = ", ".join(f"{name} {count:,}" for name, count in held.items())
    size_gb = path.stat().st_size / 1024**3
    return PathCheck(True, f"OK: {what} of Lightricks' split download, {size_gb:.1f} GB.",
                     (f"tensors read from it: {counts}", *header.details))


def check_diffusers_folder(path: Path) -> PathCheck:
    """A diffusers pipeline folder: model_index.json naming an LTX-2 pipeline, each component's folder present."""
    problem = _folder_problem(path)
    if problem:
        return PathCheck(False, problem)
    index = _read_json(path / "model_index.json")
    if index is None:
        return PathCheck(False, "Not a diffusers pipeline folder: model_index.json is missing or unreadable.")
    class_name = str(index.get("_class_name", ""))
    components = sorted(
        name for name, value in index.items()
        if not name.startswith("_") and isinstance(value, list) and len(value) == 2 and all(value)
    )
    missing = [name for name in components if not (path / name).is_dir()]
    details = (f"pipeline class: {class_name or 'unknown'}", f"components: {', '.join(components) or 'none'}")
    if not class_name.startswith("LTX2"):
        named = class_name or "an unnamed class"
        return PathCheck(False, f"A diffusers pipeline, but for {named}, not LTX-2.", details)
    if missing:
        return PathCheck(False, f"LTX-2 pipeline with component folders missing: {', '.join(missing)}.", details)
    return PathCheck(True, f"OK: LTX-2 diffusers pipeline, {len(components)} components.", details)


def check_safetensors_file(path: Path) -> PathCheck:
    """A single-file checkpoint: its safetensors header (tensor names and metadata) is read, not its weights."""
    if not path.exists():
        return PathCheck(False, "File missing.")
    if not path.is_file():
        return PathCheck(False, "Expected a .safetensors file, found a folder.")
    if path.suffix != ".safetensors":
        return PathCheck(False, f"Not a .safetensors file (it ends in “{path.suffix or 'nothing'}”).")
    try:
        # safetensors: loaded when an operator checks a file, not by every web process
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as handle:
            metadata: dict[str, str] = handle.metadata() or {}
            tensors = len(list(handle.keys()))
    except Exception as error:  # safetensors raises its own error types for a bad header
        return PathCheck(False, f"Could not read it as a safetensors file: {error}")
    size_gb = path.stat().st_size / 1024**3
    details = tuple(_describe_metadata(metadata)) or ("no metadata in the header",)
    return PathCheck(True, f"OK: single-file checkpoint, {tensors:,} tensors, {size_gb:.1f} GB.", details)


def check_text_encoder_folder(path: Path, base: str | None = None) -> PathCheck:
    """The Gemma text-encoder folder a single-file LTX checkpoint needs beside it; with `base`, of the family that
    base needs (Gemma 3 for LTX-2.3, Lightricks' Gemma 4 for LTX-2.5: captions of the other mean nothing to it)."""
    found = _model_folder(path)
    if isinstance(found, PathCheck):
        return found
    model_type, details = found
    if "gemma" not in model_type.lower():
        return PathCheck(False, f"A model folder, but its model_type is “{model_type}”, not Gemma.", details)
    needed = BASES[base].text_encoder if base is not None else None
    if needed is not None and model_type != needed.family:
        return PathCheck(False, f"A {model_type} text encoder, but {BASES[str(base)].title} needs {needed.files} "
                         f"({needed.family}).", details)
    return PathCheck(True, f"OK: Gemma text encoder ({model_type}).", details)


def check_model_folder(path: Path, purpose: str) -> PathCheck:
    """A transformers-style model folder (depth estimation, captioning): config.json with a model_type."""
    found = _model_folder(path)
    if isinstance(found, PathCheck):
        return found
    model_type, details = found
    return PathCheck(True, f"OK: {purpose} model ({model_type}).", details)


def check_track_model(path: Path) -> PathCheck:
    """The point-tracking model motion tracks follow points with: an exported program or TorchScript file (its table
    of contents is read, not its weights)."""
    problem = track_model_problem(path)
    if problem is not None:
        return PathCheck(False, problem)
    kind = "exported program (torch.export)" if saved_format(path) == "export" else "TorchScript module"
    size_mb = path.stat().st_size / 1024**2
    return PathCheck(True, f"OK: {kind}, {size_mb:.1f} MB; motion tracks follow points with it.",
                     ("called as tracks, visibility = model(video, queries), as CoTracker is",))


def check_interpreter(path: Path) -> PathCheck:
    """A Python interpreter that must exist and be executable (the pose extractor's own environment)."""
    if not path.exists():
        return PathCheck(False, "Interpreter missing.")
    if not path.is_file():
        return PathCheck(False, "Expected a Python interpreter, found a folder.")
    if not os.access(path, os.X_OK):
        return PathCheck(False, "The file exists but is not executable.")
    return PathCheck(True, f"OK: interpreter {path.name} is executable.", (f"resolves to {path.resolve()}",))


def _model_folder(path: Path) -> PathCheck | tuple[str, tuple[str, ...]]:
    problem = _folder_problem(path)
    if problem:
        return PathCheck(False, problem)
    config = _read_json(path / "config.json")
    if config is None:
        return PathCheck(False, "Not a model folder: config.json is missing or unreadable.")
    model_type = str(config.get("model_type") or "")
    if not model_type:
        return PathCheck(False, "config.json has no model_type, so this is not a model folder we can use.")
    weights = sorted(p.name for p in path.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not weights:
        return PathCheck(False, "config.json is there but no weight files (.safetensors, .bin) are.")
    architectures = ", ".join(str(a) for a in config.get("architectures") or []) or "not named"
    return model_type, (f"architectures: {architectures}", f"{len(weights)} weight file(s)")


def _folder_problem(path: Path) -> str | None:
    if not path.exists():
        return "Folder missing."
    if not path.is_dir():
        return "Expected a folder, found a file."
    return None


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _describe_metadata(metadata: dict[str, str]) -> list[str]:
    lines = []
    for key in sorted(metadata)[:MAX_SHOWN_METADATA]:
        value = metadata[key]
        # Checkpoints often carry their whole config as JSON: name it rather than print it.
        shown = value if len(value) <= 60 else f"{len(value):,} characters"
        lines.append(f"{key}: {shown}")
    if len(metadata) > MAX_SHOWN_METADATA:
        lines.append(f"and {len(metadata) - MAX_SHOWN_METADATA} more metadata keys")
    return lines
