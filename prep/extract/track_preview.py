"""A live preview of motion-track settings: one frame of the tracks drawn over the clip's own frame.

The made video follows points through the whole clip at up to 1280 pixels; a preview must come back while the
creator types, so it follows them through at most PREVIEW_FRAMES frames, up to the frame it shows, at the preview's
small size. Which points are kept (how many, how far they move), and the trails and circles, come from the same
code and the same settings as the made video, so what changes when a setting changes is what that setting changes.
Following the points depends only on the number of tracks (`tracking_budget`): callers keep what `follow_window`
gives and redraw it for the other settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from prep.extract.base import ExtractionError
from prep.extract.track_drawing import TRAIL_FRAMES, TrackDrawing, Tracks
from prep.extract.tracks import PointFollower, TrackSettings, choose_tracks

# Frames followed up to the one shown: enough for the default trail and more, few enough to answer in about a
# second on a shared CPU.
PREVIEW_FRAMES = 90
# The latest frame a preview shows: every frame before it is decoded, so a long clip costs no more than this.
LATEST_SHOWN = 150
# The clip is darkened under the tracks so that every colour of a trail, red and blue included, stands out on it.
DIM = 0.55


def shown_frame(frames: int) -> int:
    """The frame a preview shows: a third into the clip (LATEST_SHOWN at most), or later so that the default trail
    has frames behind it."""
    return max(0, min(frames - 1, max(min(frames // 3, LATEST_SHOWN), TRAIL_FRAMES)))


def frames_followed(frames: int) -> range:
    """The frames a preview follows points through: up to PREVIEW_FRAMES of them, ending on `shown_frame`."""
    last = shown_frame(frames)
    return range(max(0, last - PREVIEW_FRAMES + 1), last + 1)


@dataclass(frozen=True)
class FollowedWindow:
    """The points followed through a preview's window, and the clip's frame the preview shows (its last)."""

    followed: Tracks
    frame: np.ndarray  # (H, W, 3) uint8 RGB


def follow_window(frames: Iterable[np.ndarray], budget: int) -> FollowedWindow:
    """Follow up to `budget` points at a time through `frames` (the window's, (H, W, 3) uint8 RGB each)."""
    follower = PointFollower(budget)
    last: np.ndarray | None = None
    for last in frames:
        follower.add(last)
    if last is None:
        raise ExtractionError("A preview frame could not be read from this clip.")
    return FollowedWindow(follower.tracks(), last)


def over_clip(frame: np.ndarray, drawing: np.ndarray) -> np.ndarray:
    """`drawing` (coloured circles on black) laid over the darkened `frame`, both (H, W, 3) uint8 RGB."""
    # Every trail colour's channels add up to at least 255, so a circle covers the clip fully; its soft edge, which
    # scaling mixed with the black around it, covers it in proportion and already holds its share of the colour.
    cover = np.minimum(drawing.sum(axis=2, keepdims=True, dtype=np.float32) / 255, 1)
    mixed = frame.astype(np.float32) * DIM * (1 - cover) + drawing
    return np.rint(np.minimum(mixed, 255)).astype(np.uint8)


def draw_preview(window: FollowedWindow, settings: TrackSettings, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(the tracks over the clip's frame, the tracks on black as the adapter sees them), both at the frame's size.

    Raises `ExtractionError` in plain words, as the made video would, when nothing in the window is worth drawing.
    """
    height, width = window.frame.shape[:2]
    tracks = choose_tracks(window.followed, settings, width, height, name)
    drawing = TrackDrawing(width, height, trail=settings.trail_length, radius=settings.circle_size)
    frame = drawing.frame(tracks, tracks.frames - 1)
    return over_clip(window.frame, frame), frame
