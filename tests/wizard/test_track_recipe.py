"""The Motion tracks recipe trains as Lightricks' Motion-Track Control IC-LoRA was: its reference at half size."""

from __future__ import annotations

import pytest

from datasets.recipes import get_recipe
from wizard.plan import TRAINING_PRESETS, ClipFacts, preset_settings

LANDSCAPE_AND_PORTRAIT = ClipFacts(fps=[24.0, 24.0, 30.0], available_frames=[200, 200, 200], portrait=1, landscape=2)


@pytest.mark.parametrize("model", ["ltx-2.3", "ltx-2.5", "tiny", "demo"])
@pytest.mark.parametrize("preset", list(TRAINING_PRESETS))
def test_every_preset_starts_a_motion_track_adapter_with_a_half_size_reference_the_sizes_allow(preset, model):
    values = preset_settings(preset, get_recipe("tracks"), LANDSCAPE_AND_PORTRAIT, model, "ltx-2.3")
    assert values.reference_downscale_factor == 2
    # A half-size reference needs sides in blocks of 64, for every orientation the clips have, each shape once.
    shapes = [(values.width, values.height), *(tuple(size) for size in values.extra_sizes)]
    for width, height in shapes:
        assert width % 64 == 0 and height % 64 == 0, (width, height)
    assert len(set(shapes)) == len(shapes), shapes


def test_other_control_recipes_keep_a_full_size_reference():
    facts = ClipFacts(fps=[24.0], available_frames=[200], portrait=0, landscape=1)
    for slug in ("depth", "canny", "pose"):
        values = preset_settings("balanced", get_recipe(slug), facts, "ltx-2.3", "ltx-2.3")
        assert values.reference_downscale_factor == 1
