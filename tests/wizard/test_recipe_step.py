"""The recipe step: the list of recipes, a recipe's page, starting a draft and changing its recipe."""

import pytest

from tests.wizard.flow import pairs, start, upload

pytestmark = pytest.mark.django_db


def test_the_recipe_list_shows_every_recipe_with_a_way_in(maya):
    page = maya.get("/wizard/").content.decode()
    for name in ("Depth control", "Canny edges control", "Pose control", "Union control", "Motion tracks control",
                 "Restoration", "Colorize", "Style / re-render", "Identity", "Custom pairs"):
        assert name in page
    assert page.count('name="recipe"') == 10
    assert 'href="/wizard/recipes/identity/"' in page


def test_a_recipe_page_says_what_to_upload_and_what_makes_a_good_pair(maya):
    page = maya.get("/wizard/recipes/pose/").content.decode()
    assert "skeleton" in page and "What makes a good pair" in page and "80–150" in page
    assert maya.get("/wizard/recipes/nope/").status_code == 404


@pytest.mark.parametrize(("model", "rate", "balanced", "quick", "rank"), [
    ("demo", "0.004", 400, 250, 16),  # the small models learn at twenty and thirty times LTX-2.3's rate, in fewer steps
    ("tiny", "0.006", 300, 100, 16),
    ("ltx-2.3", "0.0002", 2000, 500, 32),
])
def test_a_recipe_pages_starting_settings_are_the_ones_this_servers_model_trains_with(
    maya, settings, model, rate, balanced, quick, rank
):
    settings.MODEL_PRESET = model
    page = maya.get("/wizard/recipes/restoration/").content.decode()
    assert f"Learning rate {rate}</li>" in page
    assert f"About {balanced} training steps with the Balanced preset, {quick} with the Quick test" in page
    assert f"Adapter capacity (rank) {rank}</li>" in page


def test_choosing_a_recipe_creates_a_dataset_and_a_draft_with_its_defaults(maya, creator):
    draft = start(maya, "colorize")
    assert draft.owner == creator and draft.dataset.recipe == "colorize"
    assert draft.dataset.trigger_phrase == "COLORIZE"
    assert "COLORIZE" in maya.get(f"/wizard/{draft.pk}/settings/").content.decode()


def test_changing_the_recipe_keeps_the_clips_and_switches_the_defaults(maya, clips):
    draft = start(maya, "colorize")
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("r.mp4", gray=True)})
    maya.post(f"/wizard/{draft.pk}/recipe/", {"recipe": "restoration"})
    draft.refresh_from_db()
    assert draft.dataset.recipe == "restoration" and draft.dataset.trigger_phrase == "ENHANCE QUALITY"
    assert list(pairs(draft)) == ["a"]
