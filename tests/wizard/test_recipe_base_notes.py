"""Every recipe says in one plain sentence how it trains on each base model besides LTX-2.3, from Lightricks' published
training configs for that base."""

from __future__ import annotations

import html

import pytest

from datasets.recipes import RECIPES
from engine.bases import BASES, LTX_2_3


@pytest.mark.parametrize("slug", list(RECIPES))
def test_each_recipe_has_one_plain_sentence_for_every_other_base(slug: str):
    notes = dict(RECIPES[slug].base_notes)
    assert set(notes) == set(BASES) - {LTX_2_3}
    for base, sentence in notes.items():
        title = BASES[base].title
        assert sentence.startswith(f"On {title} ") and sentence.endswith(".") and sentence.count(". ") == 0
        assert f"Lightricks' own {title} training configs" in sentence


@pytest.mark.django_db
def test_the_recipe_page_says_how_it_trains_on_ltx25_only_where_this_server_offers_it(maya, settings):
    sentence = html.escape(dict(RECIPES["restoration"].base_notes)["ltx-2.5"])
    settings.MODEL_PRESET, settings.TINY_MODEL_BASES = "tiny", ("ltx-2.3",)
    assert sentence not in maya.get("/wizard/recipes/restoration/").content.decode()
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    assert sentence in maya.get("/wizard/recipes/restoration/").content.decode()
