"""Builds the tiny LTX-2 model once (the CPU default), so `make run` works without downloads."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Build the tiny randomly initialised LTX-2 model in TINY_MODEL_DIR unless it is already there."

    def handle(self, *args: Any, **options: Any) -> None:
        target = Path(settings.TINY_MODEL_DIR)
        if (target / "model_index.json").exists():
            return
        # torch/diffusers (seconds): loaded only when the model must be built, usually it is already there
        from engine.tiny_model import build_tiny_model

        self.stdout.write(f"Building the tiny LTX-2 model in {target} (once, a few seconds)…")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Build beside the target and move it in whole, so an interrupted build never looks finished.
        with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
            built = build_tiny_model(Path(scratch) / "tiny")
            if target.exists():
                shutil.rmtree(target)
            built.rename(target)
        self.stdout.write(self.style.SUCCESS("Tiny model ready."))
