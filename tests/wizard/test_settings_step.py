"""The settings step: presets fitted to the clips, the estimate, and settings refused with the reason."""

import pytest

from tests.wizard.flow import settings_post

pytestmark = pytest.mark.django_db


def test_the_settings_page_has_presets_and_help_on_every_field(maya, ready_draft):
    page = maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    for label in ("Quick test", "Balanced", "High quality", "Advanced", "Estimate", "An estimate"):
        assert label in page
    from wizard.forms import SettingsForm

    form = SettingsForm(pairs=[], available={})
    assert all(field.help_text for field in form.fields.values())
    assert page.count('class="help"') >= len(form.fields)


def test_a_preset_is_fitted_to_the_clips(maya, ready_draft):
    page = maya.post(f"/wizard/{ready_draft.pk}/settings/", {"action": "preset", "preset": "high"},
                     HTTP_HX_REQUEST="true").content.decode()
    # 2 s clips at 24 fps hold 48 frames: the preset's 33 (tiny model) still fits, 121 would not.
    assert 'name="frames" value="33"' in page and 'value="high" checked' in page


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"frames": 32}, "32 frames does not work"),
        ({"width": 100}, "Width 100 is not a multiple of 32"),
        ({"reference_downscale_factor": 2, "width": 96}, "Width 96 is not a multiple of 64"),
        ({"frames": 57}, "Too long for 1 of your clips (walk)"),
        ({"checkpoint_every": 500}, "no checkpoint would be saved"),
        ({"validation_prompts": "one\ntwo"}, "Choose the reference clip"),
    ],
)
def test_impossible_settings_are_refused_with_the_reason(maya, ready_draft, overrides, says):
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, **overrides))
    assert response.status_code == 422
    assert says in response.content.decode()


def test_settings_that_need_more_memory_than_the_gpu_are_refused(maya, ready_draft, settings):
    settings.MODEL_PRESET = "ltx-2.3"
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/",
                         settings_post(ready_draft, width=2048, height=1152, frames=41, rank=128))
    assert response.status_code == 422 and "GB of GPU memory" in response.content.decode()


def test_the_training_workers_gpu_memory_and_int8_weights_decide_what_fits(maya, ready_draft, settings):
    settings.MODEL_PRESET, settings.TRAINING_GPU_MEMORY_GB = "ltx-2.3", 48
    post = settings_post(ready_draft, width=768, height=448, frames=41, rank=32)
    refused = maya.post(f"/wizard/{ready_draft.pk}/settings/", post)
    assert refused.status_code == 422 and "than the 48 GB GPU" in refused.content.decode()
    settings.TRAINING_QUANTIZE = "int8"  # the transformer's weights take half the memory
    accepted = maya.post(f"/wizard/{ready_draft.pk}/settings/", post)
    assert accepted.status_code == 302


def test_the_estimate_updates_as_settings_change(maya, ready_draft):
    response = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, action="estimate"),
                         HTTP_HX_REQUEST="true")
    body = response.content.decode()
    # The test server trains the tiny model on its CPU, so the figure is memory, not GPU memory.
    assert body.lstrip().startswith('<section id="estimate"') and "<dt>Memory</dt>" in body
    assert "GPU memory" not in body
    bad = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, frames=30, action="estimate"),
                    HTTP_HX_REQUEST="true").content.decode()
    assert "cannot work yet" in bad and "30 frames does not work" in bad
