"""Motion tracks drawn in the Motion-Track IC-LoRA's format: pixels worked out by hand, sizes, fading, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from prep.extract.track_drawing import TrackDrawing, Tracks, age_colour, reference_size

pytestmark = pytest.mark.backend_free
BLACK, NEWEST = (0, 0, 0), (0, 0, 255)


def sliding(frames: int = 4, x: float = 100, y: float = 100, step: float = 10) -> Tracks:
    """One track moving `step` pixels right per frame from (x, y), shown on every frame."""
    points = np.array([[[x + step * t, y] for t in range(frames)]], np.float64)
    return Tracks(points, np.ones((1, frames), bool))


def pixel(frame: np.ndarray, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(v) for v in frame[y, x])


def test_a_1080_frame_shows_each_age_as_a_circle_of_its_radius_and_colour_the_newest_on_top() -> None:
    # Frame 3 of a track at x = 100, 110, 120, 130 (y = 100): circles of ages 3, 2, 1, 0 with radii 7.64, 7.76,
    # 7.88 and 8 (2 + 6 (1 - age / 50)), coloured by freshness 1 - age / 50: 1 is blue, 0.98 gives green
    # 1 - 3 (0.98 - 2/3) = 0.06 (15 of 255), 0.96 gives 31, 0.94 gives 46. At 1080 pixels no scaling happens.
    frame = TrackDrawing(1080, 1080).frame(sliding(), 3)
    assert frame.shape == (1080, 1080, 3) and frame.dtype == np.uint8
    assert pixel(frame, 130, 100) == NEWEST
    assert pixel(frame, 138, 100) == NEWEST, "8 pixels away is still inside the newest circle (radius 8)"
    assert pixel(frame, 130, 108) == NEWEST
    assert pixel(frame, 139, 100) == BLACK
    assert pixel(frame, 131, 108) == BLACK, "1² + 8² = 65 is beyond a radius of 8"
    assert pixel(frame, 115, 100) == (0, 15, 255), "where ages 1 and 2 overlap the newer one is on top"
    assert pixel(frame, 113, 100) == (0, 15, 255)
    assert pixel(frame, 112, 100) == (0, 31, 255), "8 pixels is beyond age 1's radius of 7.88"
    assert pixel(frame, 100, 100) == (0, 46, 255)
    assert pixel(frame, 93, 100) == (0, 46, 255)
    assert pixel(frame, 92, 100) == BLACK, "8 pixels is beyond age 3's radius of 7.64"
    assert int(frame.sum()) == int(frame[92:109, 92:139].sum()), "nothing is drawn anywhere else"


def test_a_smaller_frame_is_the_1080_drawing_scaled_down_bilinearly() -> None:
    # 540 x 540 is drawn at 1080 x 1080 (point (65, 50) lands on (130, 100)) and each output pixel averages two
    # rows and two columns: (69, 50) reads (138..139, 100..101), of which only (138, 100) is in the circle.
    frame = TrackDrawing(540, 540).frame(sliding(frames=1, x=65, y=50), 0)
    assert pixel(frame, 65, 50) == NEWEST
    assert pixel(frame, 69, 50) == (0, 0, 64), "a quarter of 255"
    assert pixel(frame, 65, 54) == (0, 0, 64)
    assert pixel(frame, 70, 50) == BLACK


def test_the_drawing_size_follows_the_short_side_of_1080_pixels() -> None:
    assert reference_size(1920, 1080) == (1920, 1080)
    assert reference_size(720, 405) == (1920, 1080)
    assert reference_size(405, 720) == (1080, 1920)
    assert reference_size(640, 272) == (2541, 1080), "the long side is truncated to whole pixels"
    assert reference_size(3840, 2160) == (1920, 1080), "a larger clip is drawn smaller and scaled up"


def test_colours_run_from_blue_for_the_newest_through_cyan_and_green_to_red_for_the_oldest() -> None:
    assert age_colour(1.0) == (0.0, 0.0, 1.0)
    assert age_colour(2 / 3) == pytest.approx((0.0, 1.0, 1.0))
    assert age_colour(1 / 3) == pytest.approx((0.0, 1.0, 0.0))
    assert age_colour(0.0) == (1.0, 0.0, 0.0)


def test_a_track_that_ends_leaves_a_trail_that_fades_out_and_nothing_after_the_trail_length() -> None:
    track = sliding(frames=12)
    shown = track.visible.copy()
    shown[0, 5:] = False  # followed until frame 4, then lost
    drawing = TrackDrawing(1080, 1080, trail=3)
    lost = Tracks(track.points, shown)
    assert pixel(drawing.frame(lost, 4), 140, 100) == NEWEST
    after = drawing.frame(lost, 5)
    assert pixel(after, 140, 100) != NEWEST and pixel(after, 140, 100) != BLACK, "one frame old by now"
    assert drawing.frame(lost, 7).any(), "frame 4 is 3 frames old: the end of a 3-frame trail"
    assert not drawing.frame(lost, 8).any()


def test_the_trail_length_and_circle_size_change_the_drawing() -> None:
    track = sliding(frames=30, step=4)
    usual = TrackDrawing(1080, 1080).frame(track, 29)
    short = TrackDrawing(1080, 1080, trail=5).frame(track, 29)
    big = TrackDrawing(1080, 1080, radius=16).frame(track, 29)
    assert short.any(axis=2).sum() < usual.any(axis=2).sum() < big.any(axis=2).sum()
    assert pixel(big, 216 + 15, 100) == NEWEST and pixel(usual, 216 + 15, 100) == BLACK


def test_it_draws_the_same_frames_every_time_and_black_frames_without_tracks() -> None:
    rng = np.random.default_rng(3)
    points = np.cumsum(rng.normal(0, 4, (20, 16, 2)), axis=1) + rng.uniform(0, 1, (20, 1, 2)) * [176, 144]
    tracks = Tracks(points, rng.uniform(size=(20, 16)) > 0.2)
    first = list(TrackDrawing(176, 144).frames(tracks))
    again = list(TrackDrawing(176, 144).frames(tracks))
    assert len(first) == 16 and all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    hidden = Tracks(points, np.zeros((20, 16), bool))
    assert not any(frame.any() for frame in TrackDrawing(176, 144).frames(hidden))


def test_circles_past_the_edge_are_cut_off_not_wrapped_around() -> None:
    frame = TrackDrawing(1080, 1080).frame(sliding(frames=1, x=2, y=1076), 0)
    assert pixel(frame, 0, 1079) == NEWEST and pixel(frame, 10, 1079) == BLACK
    assert not frame[:1000].any() and not frame[:, 1000:].any()


def whole_frame_drawing(tracks: Tracks, t: int, width: int, height: int, trail: int) -> np.ndarray:
    """Frame t drawn the slow, plain way: every circle on the whole 1080 frame, then PyTorch's bilinear scaling."""
    # torch (~1 s to import): only this comparison needs it
    import torch

    ref_width, ref_height = reference_size(width, height)
    canvas = np.zeros((ref_height, ref_width, 3), np.float32)
    for age in range(min(t, trail), -1, -1):
        freshness = np.float32(1) - np.float32(age) / np.float32(trail)
        radius = np.float32(2) + np.float32(6) * freshness
        for n in np.flatnonzero(tracks.visible[:, t - age]):
            x, y = tracks.points[n, t - age]
            cx = int(np.rint(np.float32(x * ref_width / width)))
            cy = int(np.rint(np.float32(y * ref_height / height)))
            # Only pixels within 9 of the centre can be inside a circle of radius 8 at most; none off the frame.
            top, left = max(cy - 9, 0), max(cx - 9, 0)
            rows, columns = np.mgrid[top:max(min(cy + 10, ref_height), top), left:max(min(cx + 10, ref_width), left)]
            inside = ((columns - cx) ** 2 + (rows - cy) ** 2).astype(np.float32) <= radius * radius
            canvas[rows[inside], columns[inside]] = age_colour(float(freshness))
    scaled = torch.nn.functional.interpolate(torch.from_numpy(canvas).permute(2, 0, 1)[None], size=(height, width),
                                             mode="bilinear", align_corners=False)[0].permute(1, 2, 0).numpy()
    return np.rint(np.clip(scaled * 255, 0, 255)).astype(np.uint8)


@pytest.mark.parametrize(("width", "height"), [(176, 144), (720, 405), (405, 720), (65, 49)])
def test_drawing_only_the_pixels_scaling_reads_gives_the_same_frames_as_drawing_everything(width: int,
                                                                                            height: int) -> None:
    rng = np.random.default_rng(width)
    points = np.cumsum(rng.normal(0, 3, (4, 8, 2)), axis=1) + rng.uniform(0, 1, (4, 1, 2)) * [width, height]
    tracks = Tracks(points, rng.uniform(size=(4, 8)) > 0.2)
    drawing = TrackDrawing(width, height, trail=5)
    for t in (0, 4, 7):
        assert np.array_equal(drawing.frame(tracks, t), whole_frame_drawing(tracks, t, width, height, 5)), t

