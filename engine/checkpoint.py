"""Checkpoints: adapter + optimizer + LR schedule + RNG + step, so a resumed run continues exactly, and the settings
they were made with, so a run is never resumed with other ones."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .lora import load_lora_state_dict, lora_state_dict

PREFIX = "step_"


def save_checkpoint(
    root: Path,
    step: int,
    transformer: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    gen: torch.Generator,
    keep: int,
    settings: dict[str, Any] | None = None,
) -> Path:
    """Write `root/step_XXXXXX/` (adapter.safetensors + state.pt) atomically, then drop all but the newest `keep`.

    `settings` (flat, JSON-able: `TrainConfig.resume_settings` and the dataset) are kept beside the state for
    `check_resume`."""
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{step:06d}"
    tmp = root / f".tmp_{PREFIX}{step:06d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(
        {k: v.contiguous().cpu() for k, v in lora_state_dict(transformer).items()}, str(tmp / "adapter.safetensors")
    )
    state = {
        "step": step,
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "generator": gen.get_state(),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "settings": json.dumps(settings or {}, sort_keys=True),
    }
    torch.save(state, tmp / "state.pt")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in list_checkpoints(root)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / "state.pt").exists()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


class ResumeMismatch(ValueError):
    """The checkpoint was made with other settings than the run resuming it; the message says which."""


def check_resume(path: Path, settings: dict[str, Any], extend: bool = False) -> None:
    """Refuse to resume from `path` when a setting it was made with differs from `settings` (flat dicts).

    A setting known to only one side (a checkpoint from before a setting existed) is not compared; a checkpoint
    from before settings were recorded resumes as it always did. With `extend`, a run that continues a shorter one
    may have a larger total of steps than the checkpoint's (never a smaller one: it would have nothing to train).
    """
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    saved = json.loads(state.get("settings") or "{}")
    longer = {"optim.steps"} if extend and int(settings.get("optim.steps", 0)) > int(state["step"]) else set()
    changed = [f"{key}: {saved[key]!r} → {settings[key]!r}" for key in sorted(saved.keys() & settings.keys() - longer)
               if saved[key] != settings[key]]
    if changed:
        shown = "; ".join(changed[:5]) + (f"; and {len(changed) - 5} more" if len(changed) > 5 else "")
        raise ResumeMismatch(
            f"The checkpoint {path.name} in {path.parent} was made with other settings ({shown}). Resuming would "
            "mix two trainings (a changed total of steps also changes the learning-rate schedule). Train into a new "
            "output folder, or set checkpoint.resume to false to start again from step 0.")


def load_checkpoint(
    path: Path, transformer: Any, optimizer: torch.optim.Optimizer, scheduler: Any, gen: torch.Generator
) -> int:
    """Restore everything `save_checkpoint` wrote; return the step to continue from."""
    load_lora_state_dict(transformer, load_file(str(path / "adapter.safetensors")))
    state = torch.load(path / "state.pt", map_location="cpu", weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    gen.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"])
