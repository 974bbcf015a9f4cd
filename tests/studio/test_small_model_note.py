"""Every page that shows output says so when the videos come from a small CPU model, in words for its reader."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _note(page: str) -> str:
    return page.split('id="small-model-note"')[1].split("</aside>")[0] if 'id="small-model-note"' in page else ""


def test_a_creator_is_told_the_demo_models_pictures_are_small_and_blurry_without_setting_names(
    client: Client, creator: Any, settings: Any
) -> None:
    settings.MODEL_PRESET = "demo"
    client.force_login(creator)
    for name in ("studio", "studio_gallery"):
        note = _note(client.get(reverse(name)).content.decode())
        assert "demo model" in note and "blurry" in note and "with the adapter" in note, name
        assert "ask the person who runs this server to set up the real LTX-2 model (LTX-2.3 or LTX-2.5)" in note
        assert "MODEL_PRESET" not in note and "LTX_MODEL_PATH" not in note


def test_an_operator_is_told_which_settings_bring_in_ltx_2_3(client: Client, operator: Any, settings: Any) -> None:
    settings.MODEL_PRESET = "tiny"
    client.force_login(operator)
    note = _note(client.get(reverse("studio")).content.decode())
    assert "tiny test model" in note and "colour static" in note
    assert "MODEL_PRESET=ltx-2.3" in note and "LTX_MODEL_PATH" in note and "MODEL_PRESET=demo" in note
    assert reverse("operators:models") in note


def test_with_the_real_model_no_note_is_shown(client: Client, creator: Any, settings: Any) -> None:
    settings.MODEL_PRESET = "ltx-2.3"
    client.force_login(creator)
    assert _note(client.get(reverse("studio")).content.decode()) == ""
    assert "small-model-note" not in client.get(reverse("studio")).content.decode()
