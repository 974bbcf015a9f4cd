"""Motion tracks a creator draws: keypoints on a canvas, checked in plain words, drawn as a Motion-Track reference.

A creator draws over a canvas of the generation's size (the Studio's motion-track canvas, `static/js/track-canvas.js`):
each track is a few keypoints {x, y, frame}, in the canvas's pixels and frames. `DrawnTracks` reads them (Pydantic,
unknown keys refused), `paths` turns them into per-frame paths with the sparse track editor's spline
(`track_paths`), scaled to the size and length the generation is finally made at, and `render` draws those paths
exactly as Lightricks' LTXVDrawTracks does (`track_drawing`) into an H.264 mp4, the generation's reference.

The other way round, `editable_keypoints` reduces tracks followed through a clip (`tracks`, one position per frame)
to a few keypoints per track, so that a creator can start from a clip's own motion and edit it on the canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Any, Self

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from prep.extract.base import ExtractionError
from prep.extract.track_drawing import TrackDrawing, Tracks
from prep.extract.track_paths import Keypoint, keypoint_path, tracks_from_keypoints
from prep.extract.video import ClipFormat, FrameWriter

MAX_TRACKS = 32  # more than a creator places by hand, and each track is a point to find on a busy canvas
MAX_POINTS = 64  # per track
MAX_SIDE = 4096
MAX_FRAMES = 1000


class DrawnPoint(BaseModel):
    """One keypoint of a track: where the point is on one frame."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    x: float = Field(description="Pixels from the canvas's left edge (a pixel's centre at whole numbers).")
    y: float = Field(description="Pixels from the canvas's top edge.")
    frame: float = Field(description="The frame the point is there on: 0 is the first; fractions are allowed.")


class DrawnTracks(BaseModel):
    """What the canvas sends: its size and length, and each track's keypoints in its pixels and frames."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    width: int = Field(ge=1, le=MAX_SIDE, description="The canvas's width in pixels: the generation's when drawn.")
    height: int = Field(ge=1, le=MAX_SIDE, description="The canvas's height in pixels.")
    frames: int = Field(ge=2, le=MAX_FRAMES, description="How many frames the canvas's time runs over.")
    tracks: list[Annotated[list[DrawnPoint], Field(max_length=MAX_POINTS)]] = Field(
        max_length=MAX_TRACKS, description="Each track's keypoints in time order (at least two per track).")

    @classmethod
    def read(cls, data: str | bytes | dict[str, Any]) -> Self:
        """Tracks from the canvas's JSON (or its parsed dict), checked: bad input raises `ExtractionError` in plain
        words (no tracks, a track with one point, points outside the frame or the clip, points out of time order,
        nothing that moves, too many tracks)."""
        try:
            drawn = cls.model_validate_json(data) if isinstance(data, str | bytes) else cls.model_validate(data)
        except ValidationError as error:
            raise ExtractionError(_refusal(error.errors())) from None
        drawn.keypoints()  # the paths' own checks, in the canvas's pixels and frames where the creator drew them
        return drawn

    def keypoints(self) -> Tracks:
        """The tracks' per-frame paths on the canvas itself; raises `ExtractionError` for what cannot be drawn."""
        return tracks_from_keypoints([[(p.frame, p.x, p.y) for p in track] for track in self.tracks],
                                     self.frames, self.width, self.height)

    def paths(self, width: int, height: int, frames: int) -> Tracks:
        """The tracks' per-frame paths in a width × height clip of `frames` frames: the canvas stretched to it (a
        pixel's centre stays a pixel's centre; the first and last frames stay the first and last)."""
        if (width, height, frames) == (self.width, self.height, self.frames):
            return self.keypoints()
        self.keypoints()  # checked where they were drawn: a stretched point may fall a hair outside the clip
        sx, sy, st = width / self.width, height / self.height, (frames - 1) / (self.frames - 1)
        scaled = [[Keypoint(p.frame * st, (p.x + 0.5) * sx - 0.5, (p.y + 0.5) * sy - 0.5) for p in track]
                  for track in self.tracks]
        each = [keypoint_path(track, frames) for track in scaled]
        return Tracks(np.stack([path for path, _ in each]), np.stack([shown for _, shown in each]))

    def as_dict(self) -> dict[str, Any]:
        """As stored with a generation and sent back to the canvas."""
        return self.model_dump()


def _refusal(errors: list[ErrorDetails]) -> str:
    """Pydantic's first complaint about the canvas's data, in a creator's words."""
    first = errors[0]
    where = first["loc"]
    unreadable = "The drawn tracks could not be read. Reload the page and draw them again."
    if first["type"] in ("json_invalid", "missing", "model_type", "model_attributes_type") or not where:
        return unreadable
    if where[0] == "tracks" and len(where) == 1 and first["type"] == "too_long":
        count = (first.get("ctx") or {}).get("actual_length", "more")
        return f"There are {count} tracks; at most {MAX_TRACKS} can be drawn. Delete the ones you need least."
    if where[0] == "tracks" and len(where) == 2 and first["type"] == "too_long":
        return f"Track {int(where[1]) + 1} has more than {MAX_POINTS} points; a few well-placed points are enough."
    if where[0] == "tracks" and len(where) >= 3:
        return f"Point {int(where[2]) + 1} of track {int(where[1]) + 1} must have a frame, an x and a y, as numbers."
    if first["type"] == "extra_forbidden" or where[0] not in ("width", "height", "frames"):
        return unreadable
    if where[0] in ("width", "height"):
        return f"The canvas must be between 1 and {MAX_SIDE} pixels wide and high."
    return f"Motion tracks need a clip of 2 to {MAX_FRAMES} frames."


def render(tracks: Tracks, width: int, height: int, fps: float, dst: Path) -> int:
    """Draw `tracks` (from `DrawnTracks.paths` at width × height) frame for frame as the Motion-Track reference, an
    H.264 mp4 at `fps` as long as the tracks; returns the frames written. Deterministic: the same tracks give the
    same frames. Raises `ExtractionError` when the file cannot be written."""
    drawing = TrackDrawing(width, height)
    fmt = ClipFormat(Fraction(fps).limit_denominator(1001), width, height, tracks.frames)
    with FrameWriter(dst, fmt) as writer:
        for frame in drawing.frames(tracks):
            writer.write(frame)
    return writer.count


# --- From followed tracks to editable keypoints ----------------------------------------------------------------


def editable_keypoints(tracks: Tracks, tolerance: float = 2.0, most_points: int = 8) -> list[list[Keypoint]]:
    """A few keypoints per track whose spline (`keypoint_path`) stays within `tolerance` pixels of the track's
    followed path wherever it is shown (or uses `most_points` trying), in the tracks' own pixels and frames.

    Each track keeps its first and last shown frames; the frame where the spline strays furthest from the path is
    added until it stays close. A track shown on fewer than two frames, or with gaps, is taken over its longest
    unbroken run of frames.
    """
    out = []
    for points, visible in zip(tracks.points, tracks.visible, strict=True):
        first, last = _longest_run(visible)
        if last - first < 1:
            continue
        chosen = [first, last]
        while True:
            keypoints = [Keypoint(float(t), *map(float, points[t])) for t in sorted(chosen)]
            path, _ = keypoint_path(keypoints, tracks.frames)
            error = np.linalg.norm(path[first:last + 1] - points[first:last + 1], axis=1)
            worst = int(np.argmax(error))
            if error[worst] <= tolerance or len(chosen) >= most_points:
                break
            chosen.append(first + worst)
        out.append([Keypoint(k.frame, round(k.x, 1), round(k.y, 1)) for k in keypoints])
    return out


def _longest_run(visible: np.ndarray) -> tuple[int, int]:
    """(first, last) frame of the longest run of shown frames; (0, -1) when none is shown."""
    best, start = (0, -1), None
    for t, shown in enumerate([*visible.tolist(), False]):
        if shown and start is None:
            start = t
        elif not shown and start is not None:
            if t - 1 - start > best[1] - best[0]:
                best = (start, t - 1)
            start = None
    return best


def on_canvas(followed: Tracks, clip: tuple[int, int, float], canvas: tuple[int, int, int, float]) -> Tracks:
    """Tracks followed through a (width, height, fps) clip as they are on a (width, height, frames, fps) canvas:
    stretched to its size (and kept inside it), each canvas frame showing where the point is at the same moment
    (between two of the clip's frames, in proportion); what happens after the canvas's last frame is left out, and
    the canvas's frames after the clip's end show nothing."""
    clip_width, clip_height, clip_fps = clip
    width, height, frames, fps = canvas
    moment = np.arange(frames) * clip_fps / fps  # in the clip's frames
    before = np.minimum(np.floor(moment).astype(np.int64), followed.frames - 1)
    after = np.minimum(before + 1, followed.frames - 1)
    share = np.clip(moment - before, 0, 1)[None, :, None]
    points = followed.points[:, before] * (1 - share) + followed.points[:, after] * share
    points[..., 0] = np.clip((points[..., 0] + 0.5) * width / clip_width - 0.5, 0, width)
    points[..., 1] = np.clip((points[..., 1] + 0.5) * height / clip_height - 0.5, 0, height)
    inside = moment <= followed.frames - 1 + 1e-9
    visible = followed.visible[:, before] & (followed.visible[:, after] | (share[..., 0] == 0)) & inside[None, :]
    return Tracks(points, visible)


def as_canvas_json(keypoints: Sequence[Sequence[Keypoint]]) -> list[list[dict[str, float]]]:
    """Keypoints as the canvas reads them: [{x, y, frame}, ...] per track."""
    return [[{"x": k.x, "y": k.y, "frame": k.frame} for k in track] for track in keypoints]


def followed_tracks(stored: dict[str, Any]) -> tuple[Tracks, tuple[int, int, float]]:
    """The tracks whose positions `tracks.write_coordinates` stored, and the clip's (width, height, fps). Raises
    `ExtractionError` for a damaged file."""
    try:
        points = stored["points"]
        frames = int(stored["frames"])
        clip = (int(stored["width"]), int(stored["height"]), float(stored["fps"]))
        visible = np.array([[p is not None for p in track] for track in points], bool).reshape(-1, frames)
        where = np.array([[p if p is not None else (0.0, 0.0) for p in track] for track in points],
                         np.float64).reshape(-1, frames, 2)
    except (KeyError, TypeError, ValueError):
        raise ExtractionError("The positions of these motion tracks could not be read; make them again.") from None
    return Tracks(where, visible), clip


def moving_and_apart(tracks: Tracks, count: int) -> Tracks:
    """Up to `count` tracks that move and lie apart, in their order: the one that gets furthest from where it is
    first shown, then each time the one furthest from those chosen (between mean positions) among those that move
    at least a quarter as far, so that every moving thing gets tracks, not only the fastest. Never-shown tracks and
    still ones (when others move) are left out."""
    shown = np.asarray(tracks.visible.any(axis=1), bool)
    first = tracks.points[np.arange(tracks.count), np.argmax(tracks.visible, axis=1)]
    moved = np.where(tracks.visible, np.linalg.norm(tracks.points - first[:, None, :], axis=2), 0.0).max(
        axis=1, initial=0.0)
    candidates = np.flatnonzero(shown & (moved >= 0.25 * moved.max(initial=0.0)))
    if candidates.size <= count:
        return tracks.select(candidates)
    weights = tracks.visible[candidates][:, :, None]
    centre = (tracks.points[candidates] * weights).sum(axis=1) / weights.sum(axis=1)
    chosen = [int(np.argmax(moved[candidates]))]
    nearest = np.linalg.norm(centre - centre[chosen[0]], axis=1)
    while len(chosen) < count:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(centre - centre[pick], axis=1))
    return tracks.select(np.sort(candidates[chosen]))
