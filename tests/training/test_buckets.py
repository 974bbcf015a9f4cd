"""Which bucket a clip trains in: the closest aspect ratio among the buckets it is long enough for, ties to the
bigger bucket, always the same answer (plain Python, no model, no clips)."""

from __future__ import annotations

import pytest

from engine.buckets import Bucket, assign_bucket, labels, parse_labels

LANDSCAPE = Bucket(768, 448, 81, 24.0)
PORTRAIT = Bucket(448, 768, 81, 24.0)
SQUARE = Bucket(576, 576, 81, 24.0)
ALL = [LANDSCAPE, PORTRAIT, SQUARE]


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1920, 1080), LANDSCAPE), ((1080, 1920), PORTRAIT), ((1080, 1080), SQUARE), ((1000, 960), SQUARE),
     ((1440, 1080), LANDSCAPE), ((720, 1280), PORTRAIT)],
)
def test_each_clip_goes_to_the_bucket_closest_to_its_aspect_ratio(size: tuple[int, int], expected: Bucket) -> None:
    chosen = assign_bucket(*size, 240, 24.0, ALL)
    assert chosen is not None and chosen.bucket == expected and chosen.index == ALL.index(expected)
    assert chosen.reason.startswith(f"closest aspect ratio to {size[0]}x{size[1]}")


def test_portrait_and_landscape_are_equally_far_from_square_so_a_square_clip_ties_and_more_pixels_win() -> None:
    small_landscape, big_portrait = Bucket(128, 96, 17, 24.0), Bucket(192, 256, 17, 24.0)
    for order in ([small_landscape, big_portrait], [big_portrait, small_landscape]):
        chosen = assign_bucket(120, 120, 24, 24.0, order)
        assert chosen is not None and chosen.bucket == big_portrait
        assert "tied with 128x96x17@24: more pixels" in chosen.reason


def test_a_full_tie_goes_to_the_bucket_listed_first() -> None:
    landscape, portrait = Bucket(128, 96, 17, 24.0), Bucket(96, 128, 17, 24.0)
    assert assign_bucket(100, 100, 24, 24.0, [landscape, portrait]).bucket == landscape  # type: ignore[union-attr]
    chosen = assign_bucket(100, 100, 24, 24.0, [portrait, landscape])
    assert chosen is not None and chosen.bucket == portrait and "listed first" in chosen.reason


def test_a_clip_too_short_for_a_bucket_goes_to_the_closest_bucket_it_can_fill() -> None:
    long_landscape, short_portrait = Bucket(128, 96, 33, 24.0), Bucket(96, 128, 17, 24.0)
    chosen = assign_bucket(160, 120, 24, 24.0, [long_landscape, short_portrait])  # 1 s holds 17 frames, not 33
    assert chosen is not None and chosen.bucket == short_portrait
    assert chosen.reason.endswith("too short for 128x96x33@24")
    # Frames are counted at the bucket's rate: 24 frames at 12 fps are 2 s, 48 frames at 24 fps.
    assert assign_bucket(160, 120, 24, 12.0, [long_landscape, short_portrait]).bucket == long_landscape  # type: ignore[union-attr]


def test_a_clip_too_short_for_every_bucket_gets_none_and_a_still_fits_any() -> None:
    assert assign_bucket(160, 120, 8, 24.0, ALL) is None
    still = assign_bucket(1080, 1920, None, 24.0, ALL)
    assert still is not None and still.bucket == PORTRAIT


def test_one_bucket_is_the_only_bucket() -> None:
    chosen = assign_bucket(1080, 1920, 240, 24.0, [LANDSCAPE])
    assert chosen is not None and (chosen.bucket, chosen.reason) == (LANDSCAPE, "the only bucket")


def test_bucket_labels_round_trip_as_adapter_metadata() -> None:
    assert labels([LANDSCAPE]) == "768x448x81@24"
    assert labels(ALL) == "768x448x81@24,448x768x81@24,576x576x81@24"
    assert parse_labels(labels(ALL)) == ALL
    with pytest.raises(ValueError, match="not a bucket label"):
        Bucket.from_label("768x448")
