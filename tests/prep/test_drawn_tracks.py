"""Tracks a creator draws: read and refused in plain words, stretched to the generation, drawn as the renderer does;
and a clip's followed tracks reduced to a few keypoints to edit."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.drawn_tracks import (
    DrawnTracks,
    as_canvas_json,
    editable_keypoints,
    followed_tracks,
    moving_and_apart,
    on_canvas,
    render,
)
from prep.extract.track_drawing import TrackDrawing, Tracks
from prep.extract.track_paths import keypoint_path, tracks_from_keypoints
from prep.extract.tracks import write_coordinates
from prep.extract.video import ClipFormat, FrameWriter, clip_format, read_frames

pytestmark = pytest.mark.backend_free

TWO_TRACKS: dict[str, Any] = {"width": 128, "height": 96, "frames": 17, "tracks": [
    [{"x": 10, "y": 20, "frame": 0}, {"x": 60, "y": 40, "frame": 8}, {"x": 110, "y": 30, "frame": 16}],
    [{"x": 100, "y": 80, "frame": 4}, {"x": 30, "y": 70, "frame": 16}],
]}


def drawn(**changes: object) -> str:
    return json.dumps({**TWO_TRACKS, **changes})


@pytest.mark.parametrize(("tracks", "message"), [
    ([[{"x": 10, "y": 20, "frame": 0}]],
     "Track 1 has only one point (x 10, y 20); a track needs at least two points: where something starts and where "
     "it goes."),
    ([[{"x": 10, "y": 20, "frame": 0}, {"x": 140, "y": 20, "frame": 16}]],
     "Point 2 of track 1 (x 140, y 20) is outside the 128×96 frame."),
    ([[{"x": 10, "y": 20, "frame": 0}, {"x": 10, "y": 20, "frame": 16}]],
     "None of the tracks moves: each one stays on the same spot. Drag at least one point to where it should go, so "
     "there is a movement to follow."),
    ([], "There are no tracks yet: draw at least one path for something to follow."),
    ([[{"x": 1, "y": 1, "frame": 0}, {"x": 5, "y": 5, "frame": 3}]] * 33,
     "There are 33 tracks; at most 32 can be drawn. Delete the ones you need least."),
    ([[{"x": "left", "y": 1, "frame": 0}, {"x": 5, "y": 5, "frame": 3}]],
     "Point 1 of track 1 must have a frame, an x and a y, as numbers."),
    ([[{"x": 1, "y": 1, "frame": 9}, {"x": 5, "y": 5, "frame": 3}]],
     "Point 2 of track 1 is on frame 3, not after the point before it (frame 9); a track's points must go forward in "
     "time."),
], ids=["one-point", "outside-the-frame", "no-motion", "no-tracks", "too-many-tracks", "not-a-number",
        "back-in-time"])
def test_bad_tracks_are_refused_in_plain_words(tracks: list[object], message: str) -> None:
    with pytest.raises(ExtractionError) as refused:
        DrawnTracks.read(drawn(tracks=tracks))
    assert str(refused.value) == message


@pytest.mark.parametrize("text", ["not json", "{}", json.dumps({**TWO_TRACKS, "colour": "red"}), "[]"])
def test_what_is_not_the_canvas_s_data_is_unreadable_not_a_crash(text: str) -> None:
    with pytest.raises(ExtractionError, match=r"^The drawn tracks could not be read\. Reload the page"):
        DrawnTracks.read(text)


def test_the_paths_at_the_canvas_s_own_size_are_the_track_editor_s() -> None:
    paths = DrawnTracks.read(drawn()).paths(128, 96, 17)
    expected = tracks_from_keypoints([[(p["frame"], p["x"], p["y"]) for p in track] for track in TWO_TRACKS["tracks"]],
                                     17, 128, 96)
    assert np.array_equal(paths.points, expected.points) and np.array_equal(paths.visible, expected.visible)
    assert list(np.flatnonzero(paths.visible[1])) == list(range(4, 17))


def test_the_paths_stretch_with_the_generation_keeping_each_point_s_place_and_moment() -> None:
    small = DrawnTracks.read(drawn()).paths(128, 96, 17)
    large = DrawnTracks.read(drawn()).paths(256, 192, 33)
    # Frame 2t of the longer clip is frame t of the drawing; a pixel's centre x maps to 2x + 0.5.
    assert large.points[:, ::2][large.visible[:, ::2]] == pytest.approx(
        small.points[small.visible] * 2 + 0.5)
    keypoint = TWO_TRACKS["tracks"][0][1]
    assert tuple(large.points[0, 16]) == pytest.approx((keypoint["x"] * 2 + 0.5, keypoint["y"] * 2 + 0.5))


def test_rendering_gives_the_renderer_s_frames_of_the_interpolated_paths_the_same_every_time(tmp_path: Path) -> None:
    tracks = DrawnTracks.read(drawn()).paths(128, 96, 17)
    assert render(tracks, 128, 96, 24.0, tmp_path / "drawn.mp4") == 17
    render(tracks, 128, 96, 24.0, tmp_path / "again.mp4")
    # The renderer's own frames of the same paths, through the same encoder.
    expected = list(TrackDrawing(128, 96).frames(tracks))
    fmt = ClipFormat(Fraction(24), 128, 96, 17)
    with FrameWriter(tmp_path / "renderer.mp4", fmt) as writer:
        for frame in expected:
            writer.write(frame)
    assert clip_format(tmp_path / "drawn.mp4") == fmt
    files = [list(read_frames(tmp_path / name, fmt)) for name in ("drawn.mp4", "again.mp4", "renderer.mp4")]
    assert all(np.array_equal(a, b) and np.array_equal(a, c) for a, b, c in zip(*files, strict=True))
    # And what the file holds is the drawing, up to H.264's rounding.
    decoded = np.stack(files[0]).astype(np.int16)
    assert np.abs(decoded - np.stack(expected)).mean() < 1.5
    assert all(frame.any() for frame in expected)


def test_a_followed_path_becomes_a_few_keypoints_whose_spline_stays_on_it() -> None:
    frames = 40
    t = np.arange(frames, dtype=np.float64)
    curve = np.stack([10 + 2 * t, 50 + 20 * np.sin(t / 8)], axis=1)  # a wave across the frame
    line = np.stack([100 - t, np.full(frames, 30.0)], axis=1)
    visible = np.ones((2, frames), bool)
    visible[1, :5] = visible[1, 30:] = False  # shown from frame 5 to 29
    keypoints = editable_keypoints(Tracks(np.stack([curve, line]), visible), tolerance=2.0)
    assert 2 < len(keypoints[0]) < 8 and keypoints[0][0].frame == 0 and keypoints[0][-1].frame == frames - 1
    assert [(k.frame, k.x, k.y) for k in keypoints[1]] == [(5.0, 95.0, 30.0), (29.0, 71.0, 30.0)]
    path, shown = keypoint_path(keypoints[0], frames)
    assert shown.all() and np.linalg.norm(path - curve, axis=1).max() <= 2.0 + 0.15  # keypoints kept to a tenth


def test_a_clip_s_stored_positions_come_back_placed_on_the_canvas_at_the_same_moments(tmp_path: Path) -> None:
    frames = 24
    t = np.arange(frames, dtype=np.float64)[:, None]
    points = np.stack([np.array([10.0, 10.0]) + t * [3.0, 0.0], np.tile([50.0, 50.0], (frames, 1)),
                       np.array([20.0, 60.0]) + t * [5.0, -2.0]])
    visible = np.ones((3, frames), bool)
    visible[1, 6:] = False
    write_coordinates(Tracks(points, visible), ClipFormat(Fraction(12), 160, 120, frames), tmp_path / "c.json")
    followed, clip = followed_tracks(json.loads((tmp_path / "c.json").read_text()))
    assert clip == (160, 120, 12.0)
    assert np.array_equal(followed.visible, visible) and np.array_equal(followed.points[visible], points[visible])
    # On a 320 × 240 canvas of 9 frames at 24 fps: twice the size, canvas frame t showing the moment of clip frame
    # t / 2, so the canvas sees the clip's first 5 frames; the still track is the one left out.
    placed = moving_and_apart(on_canvas(followed, clip, (320, 240, 9, 24.0)), 2)
    assert placed.visible.all() and placed.count == 2
    assert tuple(placed.points[1, 8]) == pytest.approx(((20 + 4 * 5 + 0.5) * 2 - 0.5, (60 - 4 * 2 + 0.5) * 2 - 0.5))
    assert as_canvas_json(editable_keypoints(placed))[1] == [{"x": 40.5, "y": 120.5, "frame": 0.0},
                                                             {"x": 80.5, "y": 104.5, "frame": 8.0}]
    # A longer canvas than the clip: the tracks stop where the clip ends, inside the canvas's frame.
    longer = on_canvas(followed, clip, (320, 240, 60, 24.0))
    assert list(np.flatnonzero(longer.visible[0])) == list(range(47))
    assert longer.points[..., 0].max() <= 320


def test_damaged_stored_positions_are_refused_in_plain_words() -> None:
    with pytest.raises(ExtractionError, match="could not be read; make them again"):
        followed_tracks({"points": [[1, 2]], "frames": "x"})


def test_tracks_to_edit_are_the_moving_ones_spread_over_every_moving_thing() -> None:
    frames = 10
    t = np.arange(frames, dtype=np.float64)[:, None]
    fast = [np.array([10.0 + i, 10.0]) + t * [3.0, 0.0] for i in range(4)]  # four points side by side, fast
    slow = [np.array([90.0, 90.0]) + t * [1.0, 0.0]]  # one far away, slower
    still = [np.tile([50.0, 50.0], (frames, 1))]
    tracks = Tracks(np.stack(fast + slow + still), np.ones((6, frames), bool))
    chosen = moving_and_apart(tracks, 2)
    assert np.array_equal(chosen.points, tracks.points[[0, 4]])
    assert moving_and_apart(tracks, 9).count == 5, "the still one is left out"
