"""Checkpoints: adapter + optimizer + LR schedule + RNG + step, so a resumed run continues exactly."""

from __future__ import annotations

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
) -> Path:
    """Write `root/step_XXXXXX/` (adapter.safetensors + state.pt) atomically, then drop all but the newest `keep`."""
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
