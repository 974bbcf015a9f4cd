"""Canny edge references: frame-exact output, deterministic, tunable, and plain refusals of bad settings."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.canny import CannySettings, canny_frame, extract_canny
from prep.extract.video import ClipFormat, clip_format, read_frames
from tests.prep.conftest import LavfiClip


def first_frame(path: Path, index: int = 0) -> np.ndarray:
    """Frame `index` of `path`, (H, W, 3) uint8 RGB."""
    for i, frame in enumerate(read_frames(path, clip_format(path))):
        if i == index:
            return frame
    raise IndexError(index)


def edge_share(frame: np.ndarray) -> float:
    return float((frame[:, :, 0] > 127).mean())


@pytest.mark.parametrize(("name", "expected"), [
    ("bikes.mp4", ClipFormat(Fraction(25), 640, 272, 250)),
    ("cityCC0.mpg", ClipFormat(Fraction(25), 720, 405, 190)),
])
def test_it_keeps_the_frame_count_fps_and_size_of_real_clips(shared_media: Path, tmp_path: Path, name: str,
                                                            expected: ClipFormat) -> None:
    report = extract_canny(shared_media / name, tmp_path / "edges.mp4", CannySettings())
    assert clip_format(tmp_path / "edges.mp4") == expected
    assert (report.method, report.frames, report.fps, report.width, report.height) == (
        "canny", expected.frames, expected.fps, expected.width, expected.height)
    assert report.empty_frames == 0
    # Real footage has outlines, but an edge map is mostly black.
    assert 0.002 < edge_share(first_frame(tmp_path / "edges.mp4", 50)) < 0.4


def test_it_keeps_an_odd_size_and_ntsc_rate(lavfi_clip: LavfiClip, tmp_path: Path) -> None:
    src = lavfi_clip("testsrc", 65, 49, Fraction(30000, 1001), 9)
    extract_canny(src, tmp_path / "edges.mp4", CannySettings())
    assert clip_format(tmp_path / "edges.mp4") == ClipFormat(Fraction(30000, 1001), 65, 49, 9)


def test_it_gives_identical_frames_on_two_runs(shared_media: Path, tmp_path: Path) -> None:
    src = shared_media / "carphone_pristine.mp4"
    extract_canny(src, tmp_path / "a.mp4", CannySettings())
    extract_canny(src, tmp_path / "b.mp4", CannySettings())
    fmt = clip_format(tmp_path / "a.mp4")
    for a, b in zip(read_frames(tmp_path / "a.mp4", fmt), read_frames(tmp_path / "b.mp4", fmt), strict=True):
        assert np.array_equal(a, b)


def test_it_finds_more_edges_with_lower_thresholds_and_fewer_with_more_blur(shared_media: Path) -> None:
    frame = first_frame(shared_media / "bikes.mp4", 100)
    many = edge_share(canny_frame(frame, CannySettings(low_threshold=30, high_threshold=90, thickness=1)))
    usual = edge_share(canny_frame(frame, CannySettings(thickness=1)))
    few = edge_share(canny_frame(frame, CannySettings(low_threshold=200, high_threshold=400, thickness=1)))
    blurred = edge_share(canny_frame(frame, CannySettings(blur=9, thickness=1)))
    assert many > usual > few
    assert blurred < usual


def test_it_changes_the_extracted_video_when_the_thresholds_change(shared_media: Path, tmp_path: Path) -> None:
    src = shared_media / "carphone_pristine.mp4"
    extract_canny(src, tmp_path / "usual.mp4", CannySettings())
    extract_canny(src, tmp_path / "fine.mp4", CannySettings(low_threshold=20, high_threshold=60))
    assert edge_share(first_frame(tmp_path / "fine.mp4", 60)) > edge_share(first_frame(tmp_path / "usual.mp4", 60))


def test_it_draws_thicker_lines_when_asked_and_scales_automatic_thickness_with_the_frame() -> None:
    frame = np.zeros((200, 300, 3), np.uint8)
    frame[:, 150:] = 255  # one vertical edge
    thin = canny_frame(frame, CannySettings(thickness=1))
    thick = canny_frame(frame, CannySettings(thickness=5))
    assert edge_share(thick) > 3 * edge_share(thin)
    assert CannySettings().line_width(640, 360) == 1
    assert CannySettings().line_width(3840, 2160) == 4
    assert CannySettings(thickness=3).line_width(3840, 2160) == 3


def test_it_makes_a_white_on_black_preview_frame_of_the_same_shape(shared_media: Path) -> None:
    frame = first_frame(shared_media / "carphone_pristine.mp4")
    preview = canny_frame(frame, CannySettings())
    assert preview.shape == (144, 176, 3)
    assert preview.dtype == np.uint8
    assert set(np.unique(preview)) <= {0, 255}
    assert np.array_equal(preview[:, :, 0], preview[:, :, 1])
    assert np.array_equal(preview[:, :, 0], preview[:, :, 2])


def test_it_reports_progress_for_every_frame(shared_media: Path, tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    extract_canny(shared_media / "carphone_pristine.mp4", tmp_path / "e.mp4", CannySettings(),
                  lambda done, total: calls.append((done, total)))
    assert calls == [(i, 120) for i in range(1, 121)]


def test_it_refuses_a_file_that_is_not_a_video_and_writes_nothing(tmp_path: Path) -> None:
    src = tmp_path / "holiday.mp4"
    src.write_text("not a video")
    with pytest.raises(ExtractionError, match=r"holiday\.mp4 could not be read as a video\."):
        extract_canny(src, tmp_path / "edges.mp4", CannySettings())
    assert not (tmp_path / "edges.mp4").exists()


def test_it_fills_in_defaults_and_round_trips_its_settings() -> None:
    assert CannySettings.from_dict({}) == CannySettings()
    settings = CannySettings.from_dict({"low_threshold": "50", "high_threshold": 150.0, "blur": 0})
    assert settings == CannySettings(low_threshold=50, high_threshold=150, blur=0)
    assert CannySettings.from_dict(settings.as_dict()) == settings
    assert settings.as_dict() == {"low_threshold": 50, "high_threshold": 150, "blur": 0, "thickness": 0}


@pytest.mark.parametrize(("data", "message"), [
    ({"low_threshold": 200, "high_threshold": 100}, "The low edge threshold must be below the high one."),
    ({"low_threshold": 150, "high_threshold": 150}, "The low edge threshold must be below the high one."),
    ({"blur": 4}, "The blur size must be an odd number, or 0 for no blur (it is 4)."),
    ({"blur": 33}, "The blur size must be between 0 and 31 (it is 33)."),
    ({"thickness": -1}, "The line thickness must be between 0 and 15 (it is -1)."),
    ({"high_threshold": 5000}, "The high edge threshold must be between 1 and 500 (it is 5000)."),
    ({"low_threshold": "lots"}, "The low edge threshold must be a whole number."),
    ({"low_threshold": 10.5}, "The low edge threshold must be a whole number (it is 10.5)."),
    ({"blur": True}, "The blur size must be a whole number."),
    ({"blur": None}, "The blur size must be a whole number."),
    ({"sharpness": 3}, "“sharpness” is not one of the edge settings "
                       "(low edge threshold, high edge threshold, blur size, line thickness)."),
])
def test_it_refuses_bad_settings_in_plain_words(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ExtractionError) as refused:
        CannySettings.from_dict(data)
    assert str(refused.value) == message
