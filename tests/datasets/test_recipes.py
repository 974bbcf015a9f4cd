import pytest

from datasets.recipes import RECIPES, get_recipe

ISSUE_RECIPES = {"depth", "canny", "pose", "union", "tracks", "restoration", "colorize", "style", "identity", "custom"}


def test_every_recipe_of_the_issue_is_registered_in_order():
    assert set(RECIPES) == ISSUE_RECIPES
    assert list(RECIPES)[:5] == ["depth", "canny", "pose", "union", "tracks"]


@pytest.mark.parametrize("slug", sorted(ISSUE_RECIPES))
def test_each_recipe_explains_itself_in_plain_words(slug):
    recipe = RECIPES[slug]
    for text in (recipe.summary, recipe.what_it_does, recipe.reference, recipe.what_to_upload,
                 recipe.caption_example, recipe.clips_recommended):
        assert len(text) > 15
    assert recipe.good_pairs
    for jargon in ("latent", "bucket", "8n+1"):
        assert jargon not in recipe.what_it_does.lower()
    assert recipe.defaults.rank in (16, 32, 64, 128) and recipe.defaults.steps >= 1000


def test_identity_uses_a_still_reference_and_the_bigger_adapter():
    identity = RECIPES["identity"]
    assert identity.reference_is_image
    assert (identity.defaults.rank, identity.defaults.learning_rate) == (128, 1e-4)
    assert identity.defaults.steps >= 4000


def test_control_recipes_say_their_references_could_be_derived():
    assert {s for s, r in RECIPES.items() if r.reference_derivable} == {"depth", "canny", "pose", "union", "tracks"}


def test_recipes_with_a_usual_trigger_phrase_suggest_it():
    assert RECIPES["colorize"].trigger_phrase == "COLORIZE"
    assert RECIPES["restoration"].trigger_phrase


def test_an_unknown_slug_falls_back_to_custom_pairs():
    assert get_recipe("nonsense").slug == "custom"
