"""The recipe registry: one small module per conditioning type, in the order the wizard shows them."""

from __future__ import annotations

from datasets.recipes import canny, colorize, custom, depth, identity, pose, restoration, style, tracks, union
from datasets.recipes.base import Recipe, TrainingDefaults

__all__ = ["RECIPES", "Recipe", "TrainingDefaults", "get_recipe", "recipe_choices"]

RECIPES: dict[str, Recipe] = {
    module.RECIPE.slug: module.RECIPE
    for module in (depth, canny, pose, union, tracks, restoration, colorize, style, identity, custom)
}


def get_recipe(slug: str) -> Recipe:
    """The recipe for `slug`; unknown slugs (old rows, typos) fall back to Custom pairs."""
    return RECIPES.get(slug, RECIPES["custom"])


def recipe_choices() -> list[tuple[str, str]]:
    return [(r.slug, r.name) for r in RECIPES.values()]
