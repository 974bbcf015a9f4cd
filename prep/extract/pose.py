"""Pose skeleton references: OpenPose-style coloured skeletons on black, frame for frame, at the source's fps and size.

MediaPipe runs in its own interpreter (.venv-pose, see deploy/pose-requirements.txt): `pose_worker.py` streams
33 landmarks per frame as JSON lines; this side keeps the 18 OpenPose body keypoints, fills short gaps in
detection by interpolation and draws the skeletons with the OpenPose colours LTX pose control was trained on.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import cv2
import numpy as np
from pydantic import Field

from engine.media import sdr_filters
from prep.extract.base import ExtractionError, ExtractionReport, ProgressFn
from prep.extract.settings import ExtractionSettings, Number, WholeNumber
from prep.extract.video import ClipFormat, FrameWriter, clip_format

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_PYTHON = ROOT / ".venv-pose" / "bin" / "python"
WORKER = Path(__file__).with_name("pose_worker.py")

# OpenPose's 18 body keypoints (COCO order) as MediaPipe landmark indices; the neck (1) has no MediaPipe
# landmark and is the midpoint of the shoulders. Left and right are the person's own, in both conventions.
_NECK = 1
MEDIAPIPE_OF_OPENPOSE = (0, -1, 12, 14, 16, 11, 13, 15, 24, 26, 28, 23, 25, 27, 5, 2, 8, 7)
KEYPOINTS = len(MEDIAPIPE_OF_OPENPOSE)
# OpenPose's limbs and colours (RGB), in the order of the ControlNet/DWPose annotators: limb i has colour i,
# keypoint k has colour k. Pose IC-LoRAs learn these colours, e.g. red-orange right arm, blue-purple head.
LIMBS = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))
COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
          (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
          (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))
LIMB_SHADE = 0.6  # limbs are drawn at 60 % of their colour and the joints on top at full colour, as OpenPose does


class PoseSettings(ExtractionSettings):
    """How people are found and drawn (read with `from_dict`, stored with `as_dict`)."""

    kind = "pose"

    min_visibility: Number = Field(
        default=0.5, ge=0, le=1, title="The keypoint confidence",
        description="A keypoint MediaPipe is less sure of than this (0..1) counts as unseen on that frame.")
    min_confidence: Number = Field(
        default=0.5, ge=0, le=1, title="The person detection confidence",
        description="MediaPipe's confidence for finding and then tracking the person (0..1).")
    max_gap: WholeNumber = Field(
        default=8, ge=0, le=120, title="The longest gap to fill",
        description="Unseen keypoints (or a whole missed person) are interpolated across at most this many frames.")
    line_width: WholeNumber = Field(
        default=0, ge=0, le=40, title="The line width",
        description="Limb thickness in pixels; 0 picks it from the frame size (see `limb_width`).")

    def limb_width(self, width: int, height: int) -> int:
        """Limb thickness in pixels: the setting, or for 0 OpenPose's 8 px per 512 px of the frame's short side."""
        if self.line_width:
            return self.line_width
        return max(3, round(8 * min(width, height) / 512))


_WORKING: set[str] = set()  # interpreters found to have MediaPipe; a failure is checked again next time


def pose_problem(python: Path) -> str | None:
    """Why the pose interpreter `python` cannot be used, in plain words, or None when it can."""
    if not python.exists():
        return ("Pose extraction is not installed on this server "
                f"(an administrator can install it with `make .venv-pose/.installed`; looked for {python}).")
    if not os.access(python, os.X_OK):
        return f"Pose extraction is not set up on this server: {python} cannot be run."
    if str(python) in _WORKING:
        return None
    # find_spec only looks MediaPipe up (~0.1 s); importing it would take seconds.
    check = "import importlib.util as u, sys; sys.exit(u.find_spec('mediapipe') is None)"
    try:
        subprocess.run([str(python), "-c", check], check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return (f"Pose extraction is not set up on this server: {python} does not have MediaPipe "
                "(an administrator can run `make .venv-pose/.installed`).")
    _WORKING.add(str(python))
    return None


def extract_pose(src: Path, dst: Path, settings: PoseSettings, progress: ProgressFn | None = None,
                 python: Path | None = None) -> ExtractionReport:
    """Write the pose skeleton video of `src` to `dst` (H.264 mp4): same frame count, exact fps and size.

    Frames where nobody is found (after filling gaps of up to `settings.max_gap` frames) stay black and are
    counted in `report.empty_frames`. Raises `ExtractionError` when the interpreter cannot be used, `src`
    cannot be read, or nobody is found on any frame.
    """
    started = time.monotonic()
    python = python or DEFAULT_PYTHON
    problem = pose_problem(python)
    if problem:
        raise ExtractionError(problem)
    fmt = clip_format(src)
    points, seen = detect(src, fmt, settings, python, progress)
    if not seen.any():
        raise ExtractionError(f"No person was found in {src.name}. Pose control needs clips where a person's "
                              "body is clearly visible.")
    found = seen.any(axis=1)
    points, seen = fill_gaps(points, seen, settings.max_gap)
    filled = int((seen.any(axis=1) & ~found).sum())
    with FrameWriter(dst, fmt) as writer:
        for frame_points, frame_seen in zip(points, seen, strict=True):
            writer.write(draw_skeleton(frame_points, frame_seen, fmt.width, fmt.height, settings))
    if progress is not None:
        progress(writer.count, writer.count)
    empty = int((~seen.any(axis=1)).sum())
    return ExtractionReport(method="pose", frames=writer.count, fps=fmt.fps, width=fmt.width, height=fmt.height,
                            seconds=round(time.monotonic() - started, 2), empty_frames=empty,
                            notes=_notes(writer.count, empty, filled))


def _notes(frames: int, empty: int, filled: int) -> list[str]:
    notes = []
    if filled:
        notes.append(f"The person was missed on {filled} of {frames} frames; those were filled in from the "
                     "frames around them.")
    if empty:
        notes.append(f"Nobody was found on {empty} of {frames} frames; those frames stay black.")
    return notes


def detect(src: Path, fmt: ClipFormat, settings: PoseSettings, python: Path, progress: ProgressFn | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Run the worker on `src`: keypoints (F, 18, 2) in pixels and which were seen (F, 18) bool.

    `progress` is called per frame, short of the last (the caller reports that once the video is written).
    """
    rows: list[np.ndarray] = []
    total = max(fmt.frames, 1)
    for landmarks in _worker_lines(src, fmt, settings, python):
        rows.append(openpose_keypoints(landmarks))
        if progress is not None and len(rows) < total:
            progress(len(rows), total)
    if not rows:
        raise ExtractionError(f"{src.name} has no frames that could be decoded.")
    table = np.stack(rows)  # (F, 18, 3): x, y normalised, visibility
    points = table[:, :, :2] * np.array([fmt.width, fmt.height], np.float64)
    seen = table[:, :, 2] >= settings.min_visibility
    return points, seen


def openpose_keypoints(landmarks: list[list[float]] | None) -> np.ndarray:
    """33 MediaPipe [x, y, visibility] rows (or None: nobody) → (18, 3) OpenPose keypoints, visibility 0 if unseen."""
    if landmarks is None:
        return np.zeros((KEYPOINTS, 3))
    mediapipe = np.asarray(landmarks, np.float64)
    keypoints = mediapipe[list(MEDIAPIPE_OF_OPENPOSE)]
    right, left = mediapipe[12], mediapipe[11]
    keypoints[_NECK] = [*(right[:2] + left[:2]) / 2, min(right[2], left[2])]
    return keypoints


def _worker_lines(src: Path, fmt: ClipFormat, settings: PoseSettings, python: Path
                  ) -> Iterator[list[list[float]] | None]:
    """The worker's per-frame landmarks, in frame order; its failures become `ExtractionError`s."""
    args = [str(python), str(WORKER), str(src), "--min-confidence", str(settings.min_confidence),
            "--vf", sdr_filters(fmt.hdr)]
    # MediaPipe and TensorFlow Lite log at start-up on stderr; only errors are worth keeping.
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    with tempfile.TemporaryFile() as log:  # a file, not a pipe: the worker must never block on its log
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
        assert proc.stdout is not None
        try:
            finished = False
            for text in proc.stdout:
                if not text.startswith("{"):
                    continue  # a library's stray print; the worker's own lines are all JSON objects
                line = json.loads(text)
                event = line.get("event")
                if event == "start" and (line["width"], line["height"]) != (fmt.width, fmt.height):
                    raise ExtractionError(f"{src.name} was decoded at an unexpected size for pose extraction.")
                if event == "error":
                    raise ExtractionError(f"Pose extraction failed: {line['message']}")
                finished = finished or event == "end"
                if "frame" in line:
                    yield line["pose"]
            if proc.wait() != 0 or not finished:
                raise ExtractionError(f"Pose extraction stopped before the end of {src.name} ({_last_line(log)}).")
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()


def _last_line(log: IO[bytes]) -> str:
    log.seek(0)
    lines = log.read().decode("utf-8", "replace").strip().splitlines()
    return lines[-1][-200:] if lines else "no reason given"


def fill_gaps(points: np.ndarray, seen: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate each keypoint linearly across runs of at most `max_gap` unseen frames.

    points (F, K, 2) float, seen (F, K) bool → new arrays of the same shapes. A run is filled only when the
    keypoint is seen on both sides of it: a person entering or leaving the frame is not invented.
    """
    points, seen = points.copy(), seen.copy()
    for k in range(points.shape[1]):
        frames = np.flatnonzero(seen[:, k])
        for before, after in itertools.pairwise(frames):
            if 1 < after - before <= max_gap + 1:
                weight = ((np.arange(before + 1, after) - before) / (after - before))[:, None]
                points[before + 1:after, k] = (1 - weight) * points[before, k] + weight * points[after, k]
                seen[before + 1:after, k] = True
    return points, seen


def draw_skeleton(points: np.ndarray, seen: np.ndarray, width: int, height: int, settings: PoseSettings
                  ) -> np.ndarray:
    """One frame's skeleton: points (18, 2) pixels and seen (18,) bool → (height, width, 3) uint8 RGB.

    Limbs joining two seen keypoints are drawn as OpenPose draws them (filled ellipses at 60 % colour), then
    seen keypoints as full-colour dots. Nothing seen gives a black frame.
    """
    canvas = np.zeros((height, width, 3), np.uint8)
    half = max(1, (settings.limb_width(width, height) + 1) // 2)  # joints are dots as wide as the limbs
    for (a, b), color in zip(LIMBS, COLORS, strict=False):  # 17 limbs, 18 colours: the last is a joint's only
        if seen[a] and seen[b]:
            _draw_limb(canvas, points[a], points[b], half, tuple(int(c * LIMB_SHADE) for c in color))
    for k in np.flatnonzero(seen):
        x, y = points[k]
        if -half <= x < width + half and -half <= y < height + half:
            cv2.circle(canvas, (round(x), round(y)), half, COLORS[k], thickness=-1)
    return canvas


def _draw_limb(canvas: np.ndarray, a: np.ndarray, b: np.ndarray, half_width: int, color: tuple[int, ...]) -> None:
    """A filled ellipse from a to b (pixels), `half_width` thick on each side, as the OpenPose annotators draw."""
    middle = (a + b) / 2
    length = float(np.hypot(*(b - a)))
    angle = float(np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0])))
    # Points far off-frame (MediaPipe guesses hidden limbs) would overflow OpenCV's int coordinates.
    limit = 4 * max(canvas.shape)
    if np.abs(middle).max() > limit or length > limit:
        return
    polygon = cv2.ellipse2Poly((round(middle[0]), round(middle[1])), (round(length / 2), half_width),
                               round(angle), 0, 360, 1)
    cv2.fillConvexPoly(canvas, np.asarray(polygon, np.int32), color)
