"""The choice of base model on the Settings step: offered only when the server has two, one plain sentence each,
saved with the draft, used by the estimate and by the run launched from it."""

import pytest

from tests.wizard.flow import settings_post
from training.models import MeasuredSpeed, TrainingRun
from wizard.drafts import settings_of
from wizard.estimate import STAGES

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_bases(settings):
    """The tiny preset offering both tiny bases (TINY_MODEL_BASES=ltx-2.3,ltx-2.5)."""
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")


def test_with_one_base_the_settings_step_offers_no_choice_and_the_draft_trains_on_it(maya, ready_draft):
    page = maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    assert 'name="base"' not in page and "Base model" not in page
    assert maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft)).status_code == 302
    ready_draft.refresh_from_db()
    assert ready_draft.settings["base"] == "ltx-2.3"


def test_with_two_bases_the_settings_step_offers_each_with_a_plain_sentence_and_saves_the_choice(
    maya, ready_draft, two_bases
):
    page = maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    choice = page.split('id="base-choice"')[1].split("</fieldset>")[0]
    assert 'value="ltx-2.3" checked' in choice and 'value="ltx-2.5" >' in choice  # the default first, chosen
    assert "LTX-2.3, the video model most IC-LoRA adapters are made for today" in choice
    assert "an adapter trained on it works with LTX-2.5 only." in choice
    assert "An adapter only works with the base model it was trained on." in choice

    assert maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, base="ltx-2.5")).status_code \
        == 302
    ready_draft.refresh_from_db()
    assert ready_draft.settings["base"] == "ltx-2.5" and settings_of(ready_draft).base == "ltx-2.5"
    page = maya.get(f"/wizard/{ready_draft.pk}/settings/").content.decode()
    assert 'value="ltx-2.5" checked' in page.split('id="base-choice"')[1].split("</fieldset>")[0]

    # Picking another preset keeps the base chosen.
    maya.post(f"/wizard/{ready_draft.pk}/settings/", {"action": "preset", "preset": "quick", "base": "ltx-2.5"},
              HTTP_HX_REQUEST="true")
    ready_draft.refresh_from_db()
    assert (ready_draft.preset, ready_draft.settings["base"]) == ("quick", "ltx-2.5")


def test_a_base_the_server_does_not_offer_is_refused_in_plain_words(maya, ready_draft, two_bases, settings):
    refused = maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, base="ltx-3"))
    assert refused.status_code == 422
    assert "“ltx-3” is not offered on this server (any more): train on LTX-2.3 or LTX-2.5." in refused.content.decode()

    assert maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, base="ltx-2.5")).status_code \
        == 302
    settings.TINY_MODEL_BASES = ("ltx-2.3",)  # the operator takes LTX-2.5 away before the draft is launched
    page = maya.get(f"/wizard/{ready_draft.pk}/launch/").content.decode()
    assert "LTX-2.5 is not offered on this server (any more): train on LTX-2.3." in page


def test_the_estimate_uses_the_chosen_bases_own_measured_speeds(maya, ready_draft, two_bases):
    post = settings_post(ready_draft, action="estimate")
    for stage in STAGES:  # this server has trained the tiny LTX-2.5 model at this size, not the LTX-2.3 one
        MeasuredSpeed.objects.create(model="tiny+ltx-2.5", width=128, height=96, frames=33, reference_downscale=1,
                                     rank=16, stage=stage, seconds=1.0, runs=3)
    on_23 = maya.post(f"/wizard/{ready_draft.pk}/settings/", {**post, "base": "ltx-2.3"},
                      HTTP_HX_REQUEST="true").content.decode()
    on_25 = maya.post(f"/wizard/{ready_draft.pk}/settings/", {**post, "base": "ltx-2.5"},
                      HTTP_HX_REQUEST="true").content.decode()
    assert "based on the last 3 runs on this server" in on_25
    assert "based on the last 3 runs on this server" not in on_23


def test_a_run_launched_from_the_draft_records_the_chosen_base(maya, ready_draft, two_bases,
                                                               django_capture_on_commit_callbacks):
    maya.post(f"/wizard/{ready_draft.pk}/settings/", settings_post(ready_draft, base="ltx-2.5"))
    launch_page = maya.get(f"/wizard/{ready_draft.pk}/launch/").content.decode()
    assert "On LTX-2.5: the adapter will work with LTX-2.5 only" in launch_page
    with django_capture_on_commit_callbacks():
        response = maya.post(f"/wizard/{ready_draft.pk}/launch/")
    assert response.status_code == 302, response.content.decode()[:2000]
    run = TrainingRun.objects.get(wizard_draft=ready_draft)
    assert run.base == "ltx-2.5"
