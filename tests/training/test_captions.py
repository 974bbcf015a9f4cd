"""Captions and prompts as the model sees them."""

import pytest

from engine.captions import with_trigger

pytestmark = pytest.mark.backend_free


def test_the_trigger_phrase_goes_in_front_of_a_caption_once():
    assert with_trigger("RESTORE", "a street at dawn") == "RESTORE a street at dawn"
    assert with_trigger("RESTORE", "restore a street at dawn") == "restore a street at dawn"
    assert with_trigger("RESTORE", "RESTORE, a street") == "RESTORE, a street"
    assert with_trigger("RESTORE", "restored street") == "RESTORE restored street"
    assert with_trigger("", "a street at dawn") == "a street at dawn"
    assert with_trigger("RESTORE", "") == "RESTORE"
