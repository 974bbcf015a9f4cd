"""Pose skeleton references: MediaPipe in its own interpreter, gap filling, OpenPose drawing, plain failures."""

from __future__ import annotations

import stat
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from prep.extract.base import ExtractionError
from prep.extract.pose import (
    COLORS,
    KEYPOINTS,
    LIMB_SHADE,
    PoseSettings,
    draw_skeleton,
    extract_pose,
    fill_gaps,
    openpose_keypoints,
    pose_problem,
)
from prep.extract.video import ClipFormat, clip_format, read_frames
from tests.prep.conftest import LavfiClip

NTSC = Fraction(30000, 1001)


def test_it_finds_the_person_on_most_frames_of_real_footage(shared_media: Path, pose_python: Path,
                                                            tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []
    dst = tmp_path / "pose.mp4"
    report = extract_pose(shared_media / "carphone_pristine.mp4", dst, PoseSettings(),
                          lambda done, total: calls.append((done, total)), python=pose_python)
    assert clip_format(dst) == ClipFormat(NTSC, 176, 144, 120)
    assert (report.method, report.frames, report.width, report.height) == ("pose", 120, 176, 144)
    assert report.fps == pytest.approx(29.97, abs=0.01)
    assert report.empty_frames <= 24  # the person is found on at least 80 % of frames
    assert calls[-1] == (120, 120) and len(calls) == 120
    drawn = [frame for frame in read_frames(dst, clip_format(dst)) if frame.max() > 128]
    assert len(drawn) >= 96
    # The neck–right-shoulder limb is OpenPose's red: a man facing the camera shows it on the image's left half.
    red = (drawn[0][:, :, 0] > 120) & (drawn[0][:, :, 1] < 25) & (drawn[0][:, :, 2] < 25)  # not the orange one
    assert red.sum() > 20
    assert np.flatnonzero(red.any(axis=0)).mean() < 176 / 2


def test_it_refuses_plainly_a_clip_with_nobody_in_it(lavfi_clip: LavfiClip, pose_python: Path,
                                                     tmp_path: Path) -> None:
    src = lavfi_clip("color=c=0x607080", 160, 120, Fraction(25), 25, name="empty_room.mp4")
    dst = tmp_path / "pose.mp4"
    with pytest.raises(ExtractionError) as refused:
        extract_pose(src, dst, PoseSettings(), python=pose_python)
    assert str(refused.value) == ("No person was found in empty_room.mp4. Pose control needs clips where a "
                                  "person's body is clearly visible.")
    assert not dst.exists()


def test_it_refuses_plainly_a_file_that_is_not_a_video(pose_python: Path, tmp_path: Path) -> None:
    src = tmp_path / "dance.mp4"
    src.write_text("not a video")
    with pytest.raises(ExtractionError, match=r"^dance\.mp4 could not be read as a video\.$"):
        extract_pose(src, tmp_path / "pose.mp4", PoseSettings(), python=pose_python)


def test_it_explains_a_missing_pose_interpreter_and_refuses_to_extract(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "bin" / "python"
    reason = pose_problem(missing)
    assert reason is not None
    assert reason.startswith("Pose extraction is not installed on this server")
    assert "make .venv-pose/.installed" in reason
    with pytest.raises(ExtractionError) as refused:
        extract_pose(tmp_path / "clip.mp4", tmp_path / "pose.mp4", PoseSettings(), python=missing)
    assert str(refused.value) == reason


def test_it_explains_an_interpreter_without_mediapipe_or_that_cannot_run(tmp_path: Path) -> None:
    # The app's own interpreter is real but has no MediaPipe (by design: it lives in .venv-pose).
    without = pose_problem(Path(sys.executable))
    assert without is not None and "does not have MediaPipe" in without
    not_runnable = tmp_path / "python"
    not_runnable.write_text("")
    not_runnable.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert pose_problem(not_runnable) == (f"Pose extraction is not set up on this server: {not_runnable} "
                                          "cannot be run.")


def test_it_accepts_the_installed_pose_interpreter(pose_python: Path) -> None:
    assert pose_problem(pose_python) is None


def line(frames: int, start: tuple[float, float], end: tuple[float, float]) -> np.ndarray:
    """(frames, 1, 2): one keypoint moving in a straight line at constant speed."""
    return np.linspace(start, end, frames)[:, None, :]


def test_it_interpolates_a_keypoint_across_a_short_gap() -> None:
    points = line(10, (0, 0), (90, 45))
    seen = np.ones((10, 1), bool)
    seen[3:7] = False  # a 4-frame occlusion
    garbled = points.copy()
    garbled[3:7] = -1000  # what MediaPipe reports there must not matter
    filled, filled_seen = fill_gaps(garbled, seen, max_gap=4)
    assert filled_seen.all()
    assert np.allclose(filled, points)


def test_it_leaves_a_gap_longer_than_the_limit_unfilled() -> None:
    seen = np.ones((10, 1), bool)
    seen[2:7] = False  # 5 frames
    _, filled_seen = fill_gaps(line(10, (0, 0), (9, 9)), seen, max_gap=4)
    assert np.array_equal(filled_seen, seen)
    _, with_room = fill_gaps(line(10, (0, 0), (9, 9)), seen, max_gap=5)
    assert with_room.all()


def test_it_does_not_invent_a_person_before_they_enter_or_after_they_leave() -> None:
    seen = np.zeros((12, 1), bool)
    seen[3:8] = True
    _, filled_seen = fill_gaps(line(12, (0, 0), (11, 11)), seen, max_gap=10)
    assert np.array_equal(filled_seen, seen)


def test_it_fills_each_keypoint_on_its_own() -> None:
    points = np.concatenate([line(8, (0, 0), (7, 0)), line(8, (0, 10), (0, 80))], axis=1)
    seen = np.ones((8, 2), bool)
    seen[2:4, 0] = False  # a hand behind the back for 2 frames
    seen[1:7, 1] = False  # the other keypoint missing for 6 frames: too long
    filled, filled_seen = fill_gaps(points, seen, max_gap=3)
    assert filled_seen[:, 0].all() and np.allclose(filled[:, 0], points[:, 0])
    assert np.array_equal(filled_seen[:, 1], seen[:, 1])
    assert not np.shares_memory(filled, points)


def test_it_makes_the_neck_from_the_shoulders_and_nobody_from_a_missed_frame() -> None:
    landmarks = [[0.0, 0.0, 0.9] for _ in range(33)]
    landmarks[11] = [0.6, 0.5, 0.8]  # left shoulder
    landmarks[12] = [0.4, 0.5, 0.7]  # right shoulder
    keypoints = openpose_keypoints(landmarks)
    assert keypoints.shape == (KEYPOINTS, 3)
    assert np.allclose(keypoints[1], [0.5, 0.5, 0.7])
    assert np.allclose(keypoints[2], [0.4, 0.5, 0.7]) and np.allclose(keypoints[5], [0.6, 0.5, 0.8])
    assert not openpose_keypoints(None)[:, 2].any()


def test_it_draws_limbs_and_joints_in_openpose_colours_on_black() -> None:
    points = np.zeros((KEYPOINTS, 2))
    points[1] = (100, 50)  # neck
    points[2] = (60, 50)  # right shoulder
    seen = np.zeros(KEYPOINTS, bool)
    seen[[1, 2]] = True
    frame = draw_skeleton(points, seen, 200, 100, PoseSettings(line_width=4))
    assert frame.shape == (100, 200, 3) and frame.dtype == np.uint8
    assert tuple(frame[50, 80]) == tuple(int(c * LIMB_SHADE) for c in COLORS[0])  # mid-limb
    assert tuple(frame[50, 100]) == COLORS[1]  # the neck's dot
    assert tuple(frame[50, 60]) == COLORS[2]
    assert not frame[:40].any() and not frame[60:].any()
    assert not draw_skeleton(points, np.zeros(KEYPOINTS, bool), 200, 100, PoseSettings()).any()


def test_it_survives_keypoints_guessed_far_outside_the_frame() -> None:
    points = np.full((KEYPOINTS, 2), 50.0)
    points[3] = (1e9, -1e9)
    frame = draw_skeleton(points, np.ones(KEYPOINTS, bool), 100, 100, PoseSettings())
    assert frame.any()


def test_it_fills_in_defaults_and_round_trips_its_settings() -> None:
    assert PoseSettings.from_dict({}) == PoseSettings()
    settings = PoseSettings.from_dict({"min_visibility": "0.3", "max_gap": 12.0, "line_width": 6})
    assert settings == PoseSettings(min_visibility=0.3, max_gap=12, line_width=6)
    assert PoseSettings.from_dict(settings.as_dict()) == settings
    assert settings.limb_width(1920, 1080) == 6
    assert PoseSettings().limb_width(768, 448) == 7
    assert PoseSettings().limb_width(176, 144) == 3


@pytest.mark.parametrize(("data", "message"), [
    ({"min_visibility": 1.5}, "The keypoint confidence must be between 0 and 1 (it is 1.5)."),
    ({"min_confidence": -0.1}, "The person detection confidence must be between 0 and 1 (it is -0.1)."),
    ({"max_gap": 2.5}, "The longest gap to fill must be a whole number (it is 2.5)."),
    ({"max_gap": 500}, "The longest gap to fill must be between 0 and 120 (it is 500)."),
    ({"line_width": "thick"}, "The line width must be a whole number."),
    ({"min_visibility": "nan"}, "The keypoint confidence must be between 0 and 1 (it is nan)."),
    ({"hands": True}, "“hands” is not one of the pose settings (keypoint confidence, person detection "
                      "confidence, longest gap to fill, line width)."),
])
def test_it_refuses_bad_settings_in_plain_words(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ExtractionError) as refused:
        PoseSettings.from_dict(data)
    assert str(refused.value) == message
