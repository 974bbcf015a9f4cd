"""The live preview of motion-track settings: the frame it shows, the tracks over the clip, what settings change."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.track_preview import (
    DIM,
    LATEST_SHOWN,
    PREVIEW_FRAMES,
    FollowedWindow,
    draw_preview,
    follow_window,
    frames_followed,
    over_clip,
    shown_frame,
)
from prep.extract.tracks import TrackSettings, tracking_budget
from prep.extract.video import clip_format, read_frames
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares

pytestmark = pytest.mark.backend_free


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_moving_squares(tmp_path_factory.mktemp("preview") / "squares.mp4", SLIDING_SQUARES, frames=40)


def followed(clip: Path, settings: TrackSettings) -> FollowedWindow:
    fmt = clip_format(clip)
    span = frames_followed(fmt.frames)
    frames = list(read_frames(clip, fmt))[span.start:span.stop]
    return follow_window(frames, tracking_budget(settings))


def coloured(frame: np.ndarray) -> int:
    """How many pixels of a drawing on black are not black."""
    return int(frame.any(axis=2).sum())


@pytest.mark.parametrize(("frames", "shown", "first"), [
    (1, 0, 0),
    (40, 39, 0),  # a short clip: its last frame, so the trails have every frame behind them
    (120, 50, 0),  # room for the default 50-frame trail
    (250, 83, 0),  # a third in
    (300, 100, 100 - PREVIEW_FRAMES + 1),  # only the frames just before the one shown are followed
    (9000, LATEST_SHOWN, LATEST_SHOWN - PREVIEW_FRAMES + 1),  # a long clip is not decoded far in
])
def test_the_preview_shows_a_frame_a_third_in_with_room_for_a_trail_and_follows_points_only_up_to_it(
        frames: int, shown: int, first: int) -> None:
    assert shown_frame(frames) == shown
    assert frames_followed(frames) == range(first, shown + 1)


def test_the_tracks_are_drawn_over_the_darkened_clip_and_beside_it_on_black(squares: Path) -> None:
    settings = TrackSettings(tracks=12, trail_length=20)
    window = followed(squares, settings)
    over, alone = draw_preview(window, settings, "squares.mp4")
    assert over.shape == alone.shape == window.frame.shape == (176, 256, 3)
    drawn = alone.any(axis=2)
    assert 0 < drawn.sum() < drawn.size // 4  # sparse dots, not a filled frame
    assert np.abs(over[~drawn] - window.frame[~drawn] * DIM).max() <= 0.501  # the clip, darkened, to the level
    solid = alone.sum(axis=2) >= 255  # the middle of a circle: the tracks' own colour, not mixed with the clip
    assert solid.any() and np.array_equal(over[solid], alone[solid])
    # Trails run through the colours of their age: blue where a point is now, red where it was longest ago.
    colours = alone[solid]
    assert ((colours[:, 2] == 255) & (colours[:, 0] == 0)).any() and (colours[:, 0] > 200).any()


def test_each_setting_changes_what_the_preview_draws(squares: Path) -> None:
    base = TrackSettings(tracks=12, trail_length=10, circle_size=8)
    window = followed(squares, base)
    _, plain = draw_preview(window, base, "squares.mp4")
    _, longer = draw_preview(window, base.model_copy(update={"trail_length": 40}), "squares.mp4")
    _, bigger = draw_preview(window, base.model_copy(update={"circle_size": 20}), "squares.mp4")
    assert coloured(longer) > coloured(plain) and coloured(bigger) > coloured(plain)
    one = TrackSettings(tracks=1, trail_length=10)
    _, single = draw_preview(followed(squares, one), one, "squares.mp4")
    assert 0 < coloured(single) < coloured(plain)


def test_a_minimum_motion_nothing_reaches_is_said_plainly_as_the_made_video_would(squares: Path) -> None:
    settings = TrackSettings(min_motion=1000)
    with pytest.raises(ExtractionError, match=r"^Nothing in squares\.mp4 moves more than the minimum motion"):
        draw_preview(followed(squares, settings), settings, "squares.mp4")


def test_over_clip_keeps_the_darkened_clip_on_black_and_the_drawing_where_it_is_coloured() -> None:
    frame = np.full((2, 2, 3), 200, np.uint8)
    drawing = np.zeros((2, 2, 3), np.uint8)
    drawing[0, 0] = (0, 0, 255)
    drawing[1, 1] = (0, 128, 0)  # the soft edge of a circle: half the drawing, half the darkened clip
    over = over_clip(frame, drawing)
    assert over[0, 0].tolist() == [0, 0, 255]
    assert over[0, 1].tolist() == over[1, 0].tolist() == [110, 110, 110]
    assert over[1, 1].tolist() == [55, 55 + 128, 55]


def test_no_frame_at_all_is_a_plain_refusal() -> None:
    with pytest.raises(ExtractionError, match=r"^A preview frame could not be read from this clip\.$"):
        follow_window([], 8)
