"""Motion tracks from ordinary clips: points followed within 2 px of the truth, the video's shape, plain refusals."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.track_drawing import Tracks
from prep.extract.tracks import TrackSettings, extract_tracks, motion, pick_tracks, track_clip
from prep.extract.video import ClipFormat, clip_format, read_frames
from tests.prep.conftest import SLIDING_SQUARES, LavfiClip, MovingSquare, TrimClip, write_moving_squares

pytestmark = pytest.mark.backend_free

EDGE = 2.0  # a point this close to a square's edge may belong to either side: its truth is left unjudged


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_moving_squares(tmp_path_factory.mktemp("tracks") / "squares.mp4", SLIDING_SQUARES)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    resting = [MovingSquare(square.start, (0.0, 0.0)) for square in SLIDING_SQUARES]
    return write_moving_squares(tmp_path_factory.mktemp("tracks") / "still.mp4", resting, frames=24)


def errors_from_truth(tracks: Tracks) -> list[np.ndarray]:
    """For each track whose start is clearly on one square or on the background, its distance (pixels) from where
    that point truly is on each frame it is shown."""
    judged = []
    for n in range(tracks.count):
        frames = np.flatnonzero(tracks.visible[n])
        start, at = frames[0], tracks.points[n, frames[0]]
        on = [square for square in SLIDING_SQUARES if square.holds(at, start, EDGE)]
        if not on and any(square.holds(at, start, -EDGE) for square in SLIDING_SQUARES):
            continue
        velocity = np.array(on[0].velocity if on else (0.0, 0.0))
        truth = at + velocity * (frames - start)[:, None]
        judged.append(np.linalg.norm(tracks.points[n, frames] - truth, axis=1))
    return judged


def test_points_on_moving_squares_and_the_still_background_stay_within_two_pixels_for_most_of_the_clip(
        squares: Path) -> None:
    fmt, tracks, followed = track_clip(squares, TrackSettings(tracks=24, min_motion=0))
    assert (fmt.frames, tracks.frames, tracks.count) == (40, 40, 24) and followed >= 24
    judged = errors_from_truth(tracks)
    assert len(judged) >= 20
    close = [float((error <= 2.0).mean()) for error in judged]
    assert sum(share >= 0.9 for share in close) >= 0.9 * len(judged), close
    assert float(np.mean([len(error) for error in judged])) >= 0.75 * fmt.frames, "tracks last most of the clip"
    firsts = [tracks.points[n, np.argmax(tracks.visible[n])] for n in range(tracks.count)]
    for index, square in enumerate(SLIDING_SQUARES):
        assert any(square.holds(at, 0, EDGE) for at in firsts), f"square {index} has tracks"
    assert any(not any(s.holds(at, 0, -EDGE) for s in SLIDING_SQUARES) for at in firsts), "so has the background"


def test_a_clip_larger_than_the_working_size_is_followed_smaller_and_its_tracks_come_back_in_its_pixels(
        tmp_path: Path) -> None:
    big = [MovingSquare((x * 5.25, y * 5.25), (vx * 5.25, vy * 5.25), 294)
           for (x, y), (vx, vy) in ((s.start, s.velocity) for s in SLIDING_SQUARES)]
    clip = write_moving_squares(tmp_path / "big.mp4", big, width=1344, height=924, frames=10)
    _, tracks, _ = track_clip(clip, TrackSettings(tracks=12))
    assert tracks.count == 12
    for n in range(tracks.count):
        frames = np.flatnonzero(tracks.visible[n])
        at = tracks.points[n, frames[0]]
        square = next(s for s in big if s.holds(at, frames[0], -EDGE))
        truth = at + np.array(square.velocity) * (frames - frames[0])[:, None]
        assert np.linalg.norm(tracks.points[n, frames] - truth, axis=1).max() <= 2.0


def test_the_minimum_motion_leaves_the_still_background_out(squares: Path) -> None:
    _, tracks, _ = track_clip(squares, TrackSettings(tracks=24))
    assert tracks.count == 24
    for n in range(tracks.count):
        start = int(np.argmax(tracks.visible[n]))
        assert any(square.holds(tracks.points[n, start], start, -EDGE) for square in SLIDING_SQUARES)
    assert motion(tracks).min() >= TrackSettings().min_motion_pixels(256, 176)


def test_a_clip_where_nothing_moves_is_refused_in_plain_words_unless_still_points_are_wanted(still: Path,
                                                                                             tmp_path: Path) -> None:
    with pytest.raises(ExtractionError) as refused:
        extract_tracks(still, tmp_path / "tracks.mp4", TrackSettings())
    assert str(refused.value).startswith("Nothing in still.mp4 moves more than the minimum motion (10 pixels on a "
                                         "1080-pixel frame, 1.6 in this clip), so there are no motion tracks to draw.")
    assert not (tmp_path / "tracks.mp4").exists()
    report = extract_tracks(still, tmp_path / "dots.mp4", TrackSettings(min_motion=0, tracks=8))
    assert report.frames == 24 and "8 tracks drawn" in report.notes[0]


def test_a_flat_clip_has_nothing_to_follow(lavfi_clip: LavfiClip, tmp_path: Path) -> None:
    flat = lavfi_clip("color=c=gray", 64, 48, Fraction(24), 12, name="flat.mp4")
    with pytest.raises(ExtractionError, match=r"^No points worth following were found in flat\.mp4"):
        extract_tracks(flat, tmp_path / "tracks.mp4", TrackSettings(min_motion=0))


def test_the_track_video_keeps_the_frames_fps_and_size_and_is_the_same_twice(lavfi_clip: LavfiClip,
                                                                              tmp_path: Path) -> None:
    source = lavfi_clip("testsrc", 321, 181, Fraction(30000, 1001), 21)
    calls: list[tuple[int, int]] = []
    report = extract_tracks(source, tmp_path / "a.mp4", TrackSettings(min_motion=0),
                            lambda done, total: calls.append((done, total)))
    extract_tracks(source, tmp_path / "b.mp4", TrackSettings(min_motion=0))
    assert clip_format(tmp_path / "a.mp4") == ClipFormat(Fraction(30000, 1001), 321, 181, 21)
    assert (report.method, report.frames, report.width, report.height) == ("tracks", 21, 321, 181)
    assert calls[-1] == (21, 21) and [done for done, _ in calls] == sorted(done for done, _ in calls)
    fmt = clip_format(tmp_path / "a.mp4")
    frames = list(zip(read_frames(tmp_path / "a.mp4", fmt), read_frames(tmp_path / "b.mp4", fmt), strict=True))
    assert all(np.array_equal(a, b) for a, b in frames)
    assert all(a.any() for a, _ in frames), "every frame shows tracks"
    assert float(np.mean([(a.max(axis=2) < 30).mean() for a, _ in frames])) > 0.8, "on black"


def test_the_chosen_tracks_move_most_and_spread_out() -> None:
    # Four tracks: two moving ones side by side, one far away moving less, one that stands still.
    frames = 10
    steps = np.arange(frames)[:, None]
    points = np.stack([
        np.array([10.0, 10.0]) + steps * [3.0, 0.0],
        np.array([11.0, 10.0]) + steps * [3.0, 0.0],
        np.array([90.0, 90.0]) + steps * [1.0, 0.0],
        np.tile([50.0, 50.0], (frames, 1)),
    ])
    tracks = Tracks(points, np.ones((4, frames), bool))
    chosen, indices = pick_tracks(tracks, 2, min_motion=0.5, min_frames=8)
    assert list(indices) == [0, 2] and chosen.count == 2
    assert list(pick_tracks(tracks, 9, min_motion=0.5, min_frames=8)[1]) == [0, 1, 2]
    shortened = Tracks(points, np.arange(frames)[None, :] < np.array([[10], [10], [5], [10]]))
    assert list(pick_tracks(shortened, 9, min_motion=0.5, min_frames=8)[1]) == [0, 1], "too short a track is noise"


def test_it_follows_a_real_street_clip_and_keeps_its_shape(shared_media: Path, trim_clip: TrimClip,
                                                          tmp_path: Path) -> None:
    source = trim_clip(shared_media / "bikes.mp4", 60)
    report = extract_tracks(source, tmp_path / "tracks.mp4", TrackSettings())
    assert clip_format(tmp_path / "tracks.mp4") == ClipFormat(Fraction(25), 640, 272, 60)
    assert report.frames == 60 and report.empty_frames == 0
    assert "48 tracks drawn" in report.notes[0]


def test_settings_are_read_from_a_form_and_refused_plainly() -> None:
    assert TrackSettings.from_dict({"tracks": "12", "min_motion": "0"}).as_dict() == {
        "tracks": 12, "min_motion": 0.0, "trail_length": 50, "circle_size": 8.0}
    with pytest.raises(ExtractionError, match=r"^The number of tracks must be between 1 and 400 \(it is 0\)\.$"):
        TrackSettings.from_dict({"tracks": 0})
    with pytest.raises(ExtractionError, match=r"^“speed” is not one of the motion track settings"):
        TrackSettings.from_dict({"speed": 2})
