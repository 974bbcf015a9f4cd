"""Per-frame paths from a few keypoints per track: tracks a creator draws become `Tracks` to draw as a reference.

The curve is the one of Lightricks' sparse track editor for the Motion-Track IC-LoRA (`LTXVSparseTrackEditor`
in Lightricks/ComfyUI-LTXVideo, `sparse_tracks.py` and `web/js/sparse_track_editor.js`, read at commit aceeae9):
a uniform Catmull-Rom spline (tension 1/2) through the keypoints, with the first and last keypoints repeated as
the ends' phantom neighbours; two keypoints give a straight line at constant speed. The editor spreads the
keypoints evenly over the clip (keypoint k of K on frame k (T − 1) / (K − 1)) and rounds positions to whole
pixels; here each keypoint has its own frame, so a creator decides when a point is where, and `evenly_timed`
gives the editor's timing. Between two keypoints the spline's parameter runs evenly over the frames between them.

A track is shown from its first keypoint's frame to its last; a path may swing a little outside the frame between
keypoints near an edge, as the editor's does, and the drawing simply cuts those circles off.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from prep.extract.base import ExtractionError
from prep.extract.track_drawing import Tracks


@dataclass(frozen=True)
class Keypoint:
    """Where a track's point is (x, y in pixels of the clip) on one frame (0 = the first; fractions allowed)."""

    frame: float
    x: float
    y: float


def evenly_timed(points: Sequence[tuple[float, float]], frames: int) -> list[Keypoint]:
    """Keypoints at `points` (x, y) spread evenly from the first frame to the last, as the editor times them."""
    if len(points) < 2:
        return [Keypoint(0.0, float(x), float(y)) for x, y in points]
    step = (frames - 1) / (len(points) - 1)
    return [Keypoint(k * step, float(x), float(y)) for k, (x, y) in enumerate(points)]


def keypoint_path(keypoints: Sequence[Keypoint], frames: int) -> tuple[np.ndarray, np.ndarray]:
    """One track's position on every frame: (T, 2) float64 x, y and (T,) bool, shown from its first keypoint's
    frame to its last. The keypoints must already be checked (`tracks_from_keypoints` does that)."""
    times = np.array([k.frame for k in keypoints], np.float64)
    where = np.array([(k.x, k.y) for k in keypoints], np.float64)
    frame = np.arange(frames, dtype=np.float64)
    # A hair of tolerance: keypoints timed by `evenly_timed` land on whole frames up to rounding.
    shown = (frame >= times[0] - 1e-9) & (frame <= times[-1] + 1e-9)
    points = np.zeros((frames, 2), np.float64)
    t = np.clip(frame[shown], times[0], times[-1])
    segment = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(times) - 2)
    local = ((t - times[segment]) / (times[segment + 1] - times[segment]))[:, None]
    if len(keypoints) == 2:
        points[shown] = where[0] + (where[1] - where[0]) * local
        return points, shown
    padded = np.concatenate([where[:1], where, where[-1:]])  # phantom ends: the first and last repeated
    p0, p1, p2, p3 = (padded[segment + i] for i in range(4))
    local2, local3 = local * local, local * local * local
    points[shown] = 0.5 * (2 * p1 + (p2 - p0) * local + (2 * p0 - 5 * p1 + 4 * p2 - p3) * local2
                           + (3 * p1 - p0 - 3 * p2 + p3) * local3)
    return points, shown


def tracks_from_keypoints(tracks: Sequence[Sequence[Keypoint | Mapping[str, Any] | Sequence[float]]], frames: int,
                          width: int, height: int, *, whole_pixels: bool = False) -> Tracks:
    """Tracks of `frames` frames from each track's keypoints (Keypoint, {"frame", "x", "y"} or (frame, x, y)).

    `whole_pixels` rounds positions as the editor does (half to even, like Python's round). Raises
    `ExtractionError` in plain words for no tracks, a track with fewer than two points, a point outside the
    width × height frame or the clip's frames, points out of time order, and tracks none of which moves.
    """
    if frames < 2:
        raise ExtractionError("Motion tracks need a clip of at least two frames.")
    if not tracks:
        raise ExtractionError("There are no tracks yet: draw at least one path for something to follow.")
    checked = [_checked_track(number, track, frames, width, height) for number, track in enumerate(tracks, 1)]
    if all(len({(k.x, k.y) for k in track}) == 1 for track in checked):
        raise ExtractionError("None of the tracks moves: each one stays on the same spot. Drag at least one point "
                              "to where it should go, so there is a movement to follow.")
    paths = [keypoint_path(track, frames) for track in checked]
    points = np.stack([path for path, _ in paths])
    if whole_pixels:
        points = np.rint(points)
    return Tracks(points, np.stack([shown for _, shown in paths]))


def _checked_track(number: int, track: Sequence[Any], frames: int, width: int, height: int) -> list[Keypoint]:
    if isinstance(track, str | bytes | Mapping) or not isinstance(track, Sequence):
        raise ExtractionError(f"Track {number} must be a list of points.")
    if len(track) < 2:
        where = ""
        if len(track) == 1:
            point = _keypoint(number, 1, track[0])
            where = f" (x {point.x:g}, y {point.y:g})"
        raise ExtractionError(f"Track {number} has {_points(len(track))}{where}; a track needs at least two "
                              "points: where something starts and where it goes.")
    keypoints = [_keypoint(number, index, value) for index, value in enumerate(track, 1)]
    for index, point in enumerate(keypoints, 1):
        if not (0 <= point.x <= width and 0 <= point.y <= height):
            raise ExtractionError(f"Point {index} of track {number} (x {point.x:g}, y {point.y:g}) is outside the "
                                  f"{width}×{height} frame.")
        if not 0 <= point.frame <= frames - 1:
            raise ExtractionError(f"Point {index} of track {number} is on frame {point.frame:g}, outside the clip's "
                                  f"frames 0 to {frames - 1}.")
        if index > 1 and point.frame <= keypoints[index - 2].frame:
            raise ExtractionError(f"Point {index} of track {number} is on frame {point.frame:g}, not after the point "
                                  f"before it (frame {keypoints[index - 2].frame:g}); a track's points must go "
                                  "forward in time.")
    return keypoints


def _points(count: int) -> str:
    return "no points" if count == 0 else "only one point"


def _keypoint(track: int, index: int, value: Any) -> Keypoint:
    """`value` as a Keypoint: a Keypoint, a mapping with frame, x and y, or a (frame, x, y) sequence."""
    if isinstance(value, Keypoint):
        numbers: Any = (value.frame, value.x, value.y)
    elif isinstance(value, Mapping):
        numbers = tuple(value.get(name) for name in ("frame", "x", "y"))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) == 3:
        numbers = tuple(value)
    else:
        numbers = None
    if numbers is None or not all(_is_number(n) for n in numbers):
        raise ExtractionError(f"Point {index} of track {track} must have a frame, an x and a y, as numbers.")
    return Keypoint(*(float(n) for n in numbers))


def _is_number(value: Any) -> bool:
    # bool is an int to Python, never a position or a frame to a creator; NaN and infinity are no place either
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
