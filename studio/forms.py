"""The Studio's forms. The generation form: what a creator types, each field checked with the engine's own
plain-language checks (engine.inference), so the page and the worker refuse alike.

What depends on the reference and the adapter is checked where both are known, by the service
(studio.generation.create_generation): frames and size snapped to them, a blank field filled with the adapter's
trained value, the mask file read. The view shows its refusals beside the form's (`GenerationForm.messages`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from engine.inference import MAX_STEPS, SettingsError, number, pick_seed
from studio import masks
from studio.generation import MASK_SUFFIXES
from studio.models import Adapter

REGION_DEFAULTS = (("left", 25), ("top", 25), ("right", 75), ("bottom", 75))
# Where the page shows a field's message: the region's edges share one line, the mask file has its own.
SHOWN_AS = {"mask_left": "mask_region", "mask_upload": "mask", "voice_upload": "voice"}


class CheckedField(forms.Field):
    """A value read by one of the engine's checks; blank is None (the service then uses the adapter's value)."""

    def __init__(self, check: Callable[[Any], Any], **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)
        self.check = check

    def to_python(self, value: Any) -> Any:
        if value in self.empty_values:
            return None
        try:
            return self.check(value)
        except SettingsError as error:
            raise ValidationError(error.message, code="invalid") from None


def _ranged(name: str, label: str, low: float, high: float) -> CheckedField:
    return CheckedField(lambda value: number(value, name, label, low, high))


def _steps(value: Any) -> int:
    steps = number(value, "num_inference_steps", "Steps", 1, MAX_STEPS)
    if steps != int(steps):
        raise SettingsError("num_inference_steps", "Steps must be a whole number.")
    return int(steps)


class GenerationForm(forms.Form):
    prompt = forms.CharField(required=False)
    negative_prompt = forms.CharField(required=False)
    seed = CheckedField(pick_seed)
    frame_rate = _ranged("frame_rate", "Frame rate", 1, 60)
    num_inference_steps = CheckedField(_steps)
    guidance_scale = _ranged("guidance_scale", "Guidance", 1, 20)
    adapter_scale = _ranged("adapter_scale", "Adapter scale", 0, 2)
    attention_strength = _ranged("attention_strength", "Attention strength", 0, 1)
    effect_scale = _ranged("effect_scale", "Effect LoRA scale", 0, 2)
    # Snapped by the service, which knows the reference's length and the adapter's downscale (with a note each).
    num_frames = forms.CharField(required=False)
    width = forms.CharField(required=False)
    height = forms.CharField(required=False)
    fast_preview = forms.BooleanField(required=False)
    compare = forms.BooleanField(required=False)
    fit_reference = forms.BooleanField(required=False)
    mask_preset = forms.CharField(required=False)
    mask_fade_frames = forms.CharField(required=False)
    mask_left = forms.CharField(required=False)
    mask_top = forms.CharField(required=False)
    mask_right = forms.CharField(required=False)
    mask_bottom = forms.CharField(required=False)
    mask_invert = forms.BooleanField(required=False)
    mask_upload = forms.FileField(required=False)
    # Needed or not depending on the adapter, and read with ffmpeg: checked by the service (studio.voice).
    voice_upload = forms.FileField(required=False, error_messages={
        "empty": "The voice recording is empty: record or choose it again.",
        "invalid": "The voice recording did not arrive: record or choose it again."})

    def messages(self) -> dict[str, str]:
        """One plain message per place on the page (see SHOWN_AS), as the page template shows them."""
        return {SHOWN_AS.get(name, name): " ".join(str(e) for e in errors) for name, errors in self.errors.items()}

    def clean_prompt(self) -> str:
        prompt = str(self.cleaned_data["prompt"]).strip()
        if not prompt:
            raise ValidationError("Write a prompt: describe the video you want (scene, subject, look, motion).")
        return prompt

    def clean_seed(self) -> int:
        seed = self.cleaned_data["seed"]
        return pick_seed(None) if seed is None else seed

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cleaned["mask_settings"] = self._mask_settings(cleaned)
        return cleaned

    def _mask_settings(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The mask's stored settings: {mask_preset, and its fade frames or region edges in fractions}."""
        preset = cleaned.get("mask_preset") or "whole"
        if preset not in masks.MASK_PRESETS:
            self.add_error("mask_preset", "Choose one of the mask options.")
            return {"mask_preset": "whole"}
        out: dict[str, Any] = {"mask_preset": preset}
        if preset == "fade_in":
            try:
                over = int(str(cleaned.get("mask_fade_frames") or "8"))
                if not 1 <= over <= 256:
                    raise ValueError
                out["mask_fade_frames"] = over
            except ValueError:
                self.add_error("mask_fade_frames", "Fade in over a whole number of frames between 1 and 256.")
        elif preset == "region":
            try:
                edges = {edge: float(str(cleaned.get(f"mask_{edge}") or default)) / 100.0
                         for edge, default in REGION_DEFAULTS}
                masks.Region(**edges).checked()
                out.update({f"mask_{edge}": value for edge, value in edges.items()})
                out["mask_invert"] = bool(cleaned.get("mask_invert"))
            except masks.MaskError as error:  # a ValueError too: caught first
                self.add_error("mask_left", str(error))
            except ValueError:
                self.add_error("mask_left", "The region's edges must be percentages between 0 and 100.")
        elif preset == "upload":
            upload = cleaned.get("mask_upload")
            if upload is None:
                self.add_error("mask_upload", "Choose a mask image or video (white = follow the reference, black = "
                               "ignore it).")
            elif Path(upload.name or "").suffix.lower() not in MASK_SUFFIXES:
                self.add_error("mask_upload", "The mask must be an image (png, jpg) or a video (mp4, webm, mov).")
        return out


class AdapterUploadForm(forms.Form):
    """An adapter file from elsewhere (ComfyUI, ltx-trainer, another server): the file itself is checked by the
    service (studio.adapters.upload_adapter), which reads it."""

    name = forms.CharField(required=False, max_length=200)
    kind = forms.ChoiceField(choices=Adapter.Kind.choices, error_messages={
        "required": "Say what kind of LoRA this is.", "invalid_choice": "Say what kind of LoRA this is."})
    file = forms.FileField(error_messages={"required": "Choose a .safetensors file to upload."})

    def first_error(self) -> str:
        """The one message the upload page shows (the page has a single alert)."""
        return next((str(e) for errors in self.errors.values() for e in errors), "")
