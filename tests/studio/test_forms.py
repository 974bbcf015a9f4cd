"""The Studio's generation form: every field read as the engine reads it, refusals in the engine's own words."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils.datastructures import MultiValueDict

from engine.inference import MAX_SEED
from studio.forms import GenerationForm


def test_blank_settings_are_left_to_the_adapter_and_a_blank_seed_is_drawn():
    form = GenerationForm({"prompt": "  a quiet street  "})
    assert form.is_valid(), form.errors
    values = form.cleaned_data
    assert values["prompt"] == "a quiet street"
    assert all(values[name] is None for name in ("frame_rate", "num_inference_steps", "guidance_scale",
                                                 "adapter_scale", "attention_strength", "effect_scale"))
    assert 0 <= values["seed"] <= MAX_SEED
    assert values["mask_settings"] == {"mask_preset": "whole"}


@pytest.mark.parametrize(("field", "value", "message"), [
    ("frame_rate", "0", "Frame rate must be between 1 and 60 (got 0)."),
    ("num_inference_steps", "2.5", "Steps must be a whole number."),
    ("num_inference_steps", "many", "Steps must be a number, not “many”."),
    ("guidance_scale", "nan", "Guidance must be between 1 and 20 (got nan)."),
    ("seed", "-1", f"The seed must be between 0 and {MAX_SEED}."),
    ("attention_strength", "1.5", "Attention strength must be between 0 and 1 (got 1.5)."),
])
def test_a_value_the_engine_refuses_is_refused_by_the_form_in_the_same_words(field, value, message):
    form = GenerationForm({"prompt": "a street", field: value})
    assert not form.is_valid()
    assert form.messages() == {field: message}


def test_mask_settings_are_read_into_fractions_and_a_bad_region_is_shown_on_its_own_line():
    form = GenerationForm({"prompt": "a street", "mask_preset": "region", "mask_left": "10", "mask_top": "20",
                           "mask_right": "60", "mask_bottom": "90", "mask_invert": "on"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["mask_settings"] == {"mask_preset": "region", "mask_left": 0.1, "mask_top": 0.2,
                                                  "mask_right": 0.6, "mask_bottom": 0.9, "mask_invert": True}
    empty = GenerationForm({"prompt": "a street", "mask_preset": "region", "mask_left": "70", "mask_right": "30"})
    assert not empty.is_valid()
    assert "The region is empty" in empty.messages()["mask_region"]


def test_an_upload_mask_needs_its_file_and_a_file_of_a_mask_kind():
    missing = GenerationForm({"prompt": "a street", "mask_preset": "upload"})
    assert not missing.is_valid() and "Choose a mask image or video" in missing.messages()["mask"]
    text = SimpleUploadedFile("mask.txt", b"not a mask")
    wrong = GenerationForm({"prompt": "a street", "mask_preset": "upload"}, MultiValueDict({"mask_upload": [text]}))
    assert not wrong.is_valid() and "must be an image (png, jpg) or a video" in wrong.messages()["mask"]
