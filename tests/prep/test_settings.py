"""Extraction settings as Pydantic models: the same cache keys, stored JSON and plain refusals as before."""

from __future__ import annotations

import json
from typing import Any

import pytest
from annotated_types import Ge, Le

from prep.extract.base import ExtractionError
from prep.extract.canny import CannySettings
from prep.extract.depth import DepthSettings
from prep.extract.pose import PoseSettings
from prep.extract.settings import ExtractionSettings
from prep.extract.tracks import TrackSettings
from prep.services import clean_settings, settings_key

SOURCE = "0" * 64
SETTINGS = (CannySettings, PoseSettings, DepthSettings, TrackSettings)


# Keys computed with the dataclass settings (prep/extract/settings.py's `read_values`) before they became Pydantic
# models: an extraction cached under one of these is still found for the same clip and settings.
@pytest.mark.parametrize(("method", "data", "key"), [
    ("canny", {}, "c933845e10118e91e08568f015d92c48b730b25035d24d70c06e70970fb31614"),
    ("pose", {}, "a6c7b83bd6f9e926801b9b528a6261d43cde024ee87d668fc58aba4943f5414f"),
    ("depth", {}, "14a48c495ae2352ec1ee05fbd3c7bff1b7ff55fd98ba0ec9bf32b8570741eb5d"),
    ("canny", {"blur": "5", "low_threshold": "50"}, "101d5035c85ed71af01db606681e7ea117cf555032295cd0499319f4c177e79f"),
    ("depth", {"smoothing": 2, "batch_size": 4.0, "near_percentile": "99"},
     "cdb7e5b5fa3f7fedebe12e11512b51e801bd06e109ea20ff799b903026fe5691"),
    # Motion tracks came later, as Pydantic models from the start: their keys as first released.
    ("tracks", {}, "f8f94483f03169105562bde18373e6a0f8c085ea207540e4cf1993cb2ac45958"),
    ("tracks", {"tracks": "12", "trail_length": 20.0},
     "9409e072867e92bdfd84843536fe8123493a90d0bc1a6597cb17a20b51009ab9"),
])
def test_the_same_settings_give_the_cache_key_they_had_before(method: str, data: dict[str, Any], key: str) -> None:
    assert settings_key(method, clean_settings(method, data), SOURCE) == key


@pytest.mark.parametrize("stored", [
    '{"low_threshold": 100, "high_threshold": 200, "blur": 3, "thickness": 0}',
    '{"min_visibility": 0.3, "min_confidence": 0.5, "max_gap": 12, "line_width": 6}',
    '{"smoothing": 2.5, "batch_size": 16, "near_percentile": 98.0, "far_percentile": 2.0}',
    '{"tracks": 48, "min_motion": 10.0, "trail_length": 50, "circle_size": 8.0}',
])
def test_settings_stored_before_load_and_store_again_unchanged(stored: str) -> None:
    data = json.loads(stored)
    kind = next(cls for cls in SETTINGS if set(cls.model_fields) == set(data))
    assert kind.from_dict(data).as_dict() == data
    assert list(kind.from_dict(data).as_dict()) == list(data)  # same keys in the same order


@pytest.mark.parametrize(("settings", "data", "expected"), [
    (CannySettings, {"blur": "5", "thickness": " 7 "}, {"blur": 5, "thickness": 7}),
    (CannySettings, {"low_threshold": 50.0}, {"low_threshold": 50}),
    (PoseSettings, {"max_gap": "4.0", "min_visibility": "1"}, {"max_gap": 4, "min_visibility": 1.0}),
    (DepthSettings, {"smoothing": 2, "near_percentile": "99.5"}, {"smoothing": 2.0, "near_percentile": 99.5}),
])
def test_form_text_and_whole_floats_are_read_as_the_numbers_they_mean(
    settings: type[ExtractionSettings], data: dict[str, Any], expected: dict[str, Any]
) -> None:
    values = settings.from_dict(data).as_dict()
    assert {name: values[name] for name in expected} == expected
    assert all(type(values[name]) is type(value) for name, value in expected.items())


@pytest.mark.parametrize(("settings", "data", "message"), [
    (CannySettings, {"blur": "3.5"}, "The blur size must be a whole number (it is 3.5)."),
    (CannySettings, {"blur": 3.5}, "The blur size must be a whole number (it is 3.5)."),
    (CannySettings, {"thickness": "-0.5"}, "The line thickness must be a whole number (it is -0.5)."),
    (CannySettings, {"blur": ""}, "The blur size must be a whole number."),
    (CannySettings, {"blur": [3]}, "The blur size must be a whole number."),
    (CannySettings, {"blur": "40"}, "The blur size must be between 0 and 31 (it is 40)."),
    (DepthSettings, {"batch_size": "inf"}, "The batch size must be a whole number (it is inf)."),
    (DepthSettings, {"batch_size": float("nan")}, "The batch size must be a whole number (it is nan)."),
    (DepthSettings, {"smoothing": "inf"}, "The temporal smoothing must be between 0 and 5 (it is inf)."),
    (DepthSettings, {"smoothing": None}, "The temporal smoothing must be a number."),
    (PoseSettings, {"min_confidence": " 2 "}, "The person detection confidence must be between 0 and 1 (it is 2)."),
])
def test_a_bad_value_is_refused_with_the_sentence_it_got_before(
    settings: type[ExtractionSettings], data: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExtractionError) as refused:
        settings.from_dict(data)
    assert str(refused.value) == message


@pytest.mark.parametrize(("settings", "name"), [(s, n) for s in SETTINGS for n in s.model_fields])
@pytest.mark.parametrize("answer", [True, False])
def test_yes_or_no_is_refused_for_every_number_setting(settings: type[ExtractionSettings], name: str,
                                                       answer: bool) -> None:
    field = settings.model_fields[name]
    kind = "a whole number" if field.annotation is int else "a number"
    with pytest.raises(ExtractionError) as refused:
        settings.from_dict({name: answer})
    assert str(refused.value) == f"{field.title} must be {kind}."


@pytest.mark.parametrize("settings", SETTINGS)
def test_every_setting_has_a_label_a_description_and_a_range_and_unknown_keys_are_refused(
    settings: type[ExtractionSettings],
) -> None:
    assert settings.model_config.get("extra") == "forbid"
    for field in settings.model_fields.values():
        assert field.title and field.title.startswith("The ")
        assert field.description
        assert [type(rule) for rule in field.metadata if isinstance(rule, Ge | Le)] == [Ge, Le]
    with pytest.raises(ExtractionError, match=f"^“extra” is not one of the {settings.kind} settings"):
        settings.from_dict({"extra": 1})


def test_an_unknown_key_is_named_before_a_bad_value_and_the_first_unknown_in_order() -> None:
    with pytest.raises(ExtractionError) as refused:
        CannySettings.from_dict({"blur": "lots", "zoom": 1, "sharpness": 2})
    assert str(refused.value).startswith("“sharpness” is not one of the edge settings")


def test_stored_settings_that_are_not_named_values_are_refused_plainly() -> None:
    with pytest.raises(ExtractionError) as refused:
        DepthSettings.from_dict(json.loads('["smoothing"]'))
    assert str(refused.value) == "The depth settings must be a set of named values."


def test_missing_settings_keep_their_defaults_and_settings_cannot_be_changed_once_read() -> None:
    assert DepthSettings.from_dict(None) == DepthSettings()
    settings = CannySettings.from_dict({"blur": 5})
    assert settings.as_dict() == {"low_threshold": 100, "high_threshold": 200, "blur": 5, "thickness": 0}
    with pytest.raises(ValueError, match="frozen"):
        settings.blur = 7


def test_tracks_made_with_an_operators_point_tracking_model_are_not_those_cached_from_optical_flow() -> None:
    values = clean_settings("tracks", {})
    flow = settings_key("tracks", values, SOURCE)
    model = settings_key("tracks", values, SOURCE, maker="/models/cotracker.pt2")
    assert model != flow and model != settings_key("tracks", values, SOURCE, maker="/models/other.pt2")
