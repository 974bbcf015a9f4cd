"""Paths from a few keypoints per track: the sparse track editor's curve, its timing, and plain refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.track_paths import Keypoint, evenly_timed, tracks_from_keypoints

pytestmark = pytest.mark.backend_free

# The two splines drawn in Lightricks' example workflow for the Motion-Track IC-LoRA
# (ComfyUI-LTXVideo, example_workflows/2.3/LTX-2.3_ICLoRA_Motion_Track_Distilled.json, the LTXVSparseTrackEditor
# node: its control points, 121 points sampled), and some of the coordinates the editor made from them.
EDITOR_SPLINES = [
    [(385.0759251206301, 238.92165891412267), (226.6706827038015, 321.895716789677),
     (118.7556948262006, 334.34620347590675), (8.857468951125458, 294.56719637193584)],
    [(550.4183052326947, 246.43019177413228), (530.2019095759371, 493.9392986305124)],
]
EDITOR_SAMPLES = {  # (track, frame): (x, y)
    (0, 0): (385, 239), (0, 1): (383, 240), (0, 2): (381, 241), (0, 3): (378, 243), (0, 4): (375, 244),
    (0, 5): (373, 246), (0, 40): (227, 322), (0, 41): (223, 323), (0, 60): (170, 336), (0, 119): (10, 295),
    (0, 120): (9, 295), (1, 0): (550, 246), (1, 1): (550, 248), (1, 2): (550, 251), (1, 60): (540, 370),
    (1, 120): (530, 494),
}


def test_evenly_timed_keypoints_give_the_editors_own_coordinates() -> None:
    keypoints = [evenly_timed(spline, 121) for spline in EDITOR_SPLINES]
    tracks = tracks_from_keypoints(keypoints, 121, 768, 544, whole_pixels=True)
    assert tracks.points.shape == (2, 121, 2) and tracks.visible.all()
    for (track, frame), expected in EDITOR_SAMPLES.items():
        assert tuple(tracks.points[track, frame]) == expected, (track, frame)


def test_two_keypoints_make_a_straight_path_at_constant_speed() -> None:
    tracks = tracks_from_keypoints([[(0, 0, 0), (10, 100, 50)]], 11, 200, 100)
    assert tracks.points[0, 5] == pytest.approx((50, 25))
    assert np.diff(tracks.points[0, :, 0]) == pytest.approx(np.full(10, 10.0))


def test_the_curve_passes_through_every_keypoint_on_its_frame_and_bends_smoothly_between() -> None:
    # Catmull-Rom on (10, 10), (20, 10), (30, 20) at frames 0, 10, 20; halfway through the first segment, with the
    # first keypoint repeated as its phantom neighbour: 0.5 (2 p1 + (p2 - p0) t + (2 p0 - 5 p1 + 4 p2 - p3) t²
    # + (3 p1 - p0 - 3 p2 + p3) t³) at t = 0.5 is (14.375, 9.375).
    keypoints = [Keypoint(0, 10, 10), Keypoint(10, 20, 10), Keypoint(20, 30, 20)]
    tracks = tracks_from_keypoints([keypoints], 21, 64, 64)
    for keypoint in keypoints:
        assert tracks.points[0, int(keypoint.frame)] == pytest.approx((keypoint.x, keypoint.y))
    assert tracks.points[0, 5] == pytest.approx((14.375, 9.375))
    steps = np.linalg.norm(np.diff(tracks.points[0], axis=0), axis=1)
    assert steps.max() < 2 * steps.mean(), "no jumps between frames"


def test_a_track_is_shown_only_from_its_first_keypoint_to_its_last() -> None:
    tracks = tracks_from_keypoints([[{"frame": 4, "x": 10, "y": 10}, {"frame": 9, "x": 30, "y": 10}]], 16, 64, 64)
    assert list(np.flatnonzero(tracks.visible[0])) == [4, 5, 6, 7, 8, 9]
    assert tracks.points[0, 4] == pytest.approx((10, 10)) and tracks.points[0, 9] == pytest.approx((30, 10))


def test_a_still_track_is_allowed_beside_one_that_moves() -> None:
    tracks = tracks_from_keypoints([[(0, 20, 20), (15, 20, 20)], [(0, 5, 5), (15, 60, 40)]], 16, 64, 64)
    assert tracks.points[0] == pytest.approx(np.full((16, 2), 20.0))


@pytest.mark.parametrize(("tracks", "message"), [
    ([[(0, 12, 30)]], "Track 1 has only one point (x 12, y 30); a track needs at least two points: where "
                      "something starts and where it goes."),
    ([[(0, 1, 1), (9, 5, 5)], []], "Track 2 has no points; a track needs at least two points"),
    ([[(0, 10, 10), (5, 20, 10), (9, 70, 10)]], "Point 3 of track 1 (x 70, y 10) is outside the 64×48 frame."),
    ([[(0, 10, -1), (9, 20, 10)]], "Point 1 of track 1 (x 10, y -1) is outside the 64×48 frame."),
    ([[(0, 10, 10), (9, 10, 10)], [(2, 30, 30), (5, 30, 30)]],
     "None of the tracks moves: each one stays on the same spot."),
    ([[(0, 10, 10), (12, 20, 10)]], "Point 2 of track 1 is on frame 12, outside the clip's frames 0 to 9."),
    ([[(0, 10, 10), (6, 20, 10), (6, 30, 10)]], "Point 3 of track 1 is on frame 6, not after the point before it "
                                                "(frame 6); a track's points must go forward in time."),
    ([[(0, 10, 10), {"frame": 3, "x": "left"}]], "Point 2 of track 1 must have a frame, an x and a y, as numbers."),
    ([[(0, 10, 10), (3, float("nan"), 10)]], "Point 2 of track 1 must have a frame, an x and a y, as numbers."),
    ([[(0, 10, 10), (3, True, 10)]], "Point 2 of track 1 must have a frame, an x and a y, as numbers."),
    ([], "There are no tracks yet: draw at least one path for something to follow."),
])
def test_bad_keypoints_are_refused_in_plain_words(tracks: list[Any], message: str) -> None:
    with pytest.raises(ExtractionError) as refused:
        tracks_from_keypoints(tracks, 10, 64, 48)
    assert str(refused.value).startswith(message)


def test_a_clip_of_one_frame_has_no_room_for_a_path() -> None:
    with pytest.raises(ExtractionError, match="at least two frames"):
        tracks_from_keypoints([[(0, 1, 1), (0, 5, 5)]], 1, 64, 48)
