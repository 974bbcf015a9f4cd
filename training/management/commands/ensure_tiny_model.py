"""Builds the tiny LTX-2 model of a base once (the CPU default), so `make run` works without downloads."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from engine.bases import BASES, LTX_2_3
from engine.model_paths import is_current_tiny_model
from training.models_config import tiny_model_dir


class Command(BaseCommand):
    help = ("Build the tiny randomly initialised LTX-2 model of a base (TINY_MODEL_DIR for LTX-2.3, "
            "TINY_MODEL_DIR-ltx-2.5 for LTX-2.5) unless it is already there.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--base", choices=tuple(BASES), default=LTX_2_3,
                            help="the base model whose architecture and text encoder it has (default ltx-2.3)")

    def handle(self, *args: Any, **options: Any) -> None:
        base = str(options.get("base") or LTX_2_3)
        target = tiny_model_dir(base)
        if is_current_tiny_model(target):
            return
        # torch/diffusers (seconds): loaded only when the model must be built, usually it is already there
        from engine.tiny_model import build_tiny_model

        self.stdout.write(f"Building the tiny {base} model in {target} (once, a few seconds)…")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target and move it in whole, so an interrupted build never looks finished.
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            built = build_tiny_model(Path(scratch) / "tiny", base=base)
            if target.exists():
                shutil.rmtree(target)
            built.rename(target)
        self.stdout.write(self.style.SUCCESS("Tiny model ready."))
