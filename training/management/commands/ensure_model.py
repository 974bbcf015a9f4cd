"""Before `make run` starts the app: the configured base models are there (tiny: built once per base offered; demo:
shipped)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from engine.model_paths import DEMO, TINY
from training.models_config import ImproperlyConfiguredModel, available_bases, model_paths


class Command(BaseCommand):
    help = ("Build the tiny model of each base offered if it is the preset and missing; check that the demo model is "
            "where settings say.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.MODEL_PRESET == TINY:
            for base in available_bases():
                call_command("ensure_tiny_model", base=base, stdout=self.stdout)
        elif settings.MODEL_PRESET == DEMO:
            try:
                model_paths()
            except ImproperlyConfiguredModel as error:
                raise CommandError(str(error)) from error
        # ltx-2.3 (the real bases): the operator's files are checked by the workers and the console (/ops/models/),
        # which say what to fix; the web app starts without them.
