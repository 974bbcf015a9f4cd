"""Motion-track references from ordinary clips: points worth following, followed through the clip, drawn as trails.

Points are corners (OpenCV's good features to track), seeded over a grid of the frame so they spread over it, and
first where the picture changes from one frame to the next so moving things get points; more are added along the
way as points are lost. Each is followed frame to frame with pyramidal Lucas-Kanade optical flow and followed back
again: a point that does not come back to where it was (occluded, blurred, off the edge), or whose surroundings no
longer look like they did (something passed over it), is dropped from then on.
Of all the points followed, the ones that moved at least the minimum motion, lasted a few frames, and lie furthest
apart (moving ones count as further) are kept and drawn with `track_drawing`, in the Motion-Track IC-LoRA's format.

When the operator has set up a point-tracking model (`track_model`, CoTracker for one), `ModelFollower` lets it move
the points instead of optical flow, a few frames at a time; the points are chosen, dropped and kept as above.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
from pydantic import Field

from prep.extract.base import ExtractionError, ExtractionReport, ProgressFn
from prep.extract.settings import ExtractionSettings, Number, WholeNumber
from prep.extract.track_drawing import REFERENCE_SHORT_SIDE, TRAIL_FRAMES, TrackDrawing, Tracks
from prep.extract.video import ClipFormat, FrameWriter, clip_format, read_frames

# Points followed for each track asked for: spare ones to pick the moving and well-spread tracks from, and to
# replace the ones that get lost.
CANDIDATES_PER_TRACK = 4
MAX_CANDIDATES = 1200
# Frames are followed at most this large (long side, pixels): LK's cost grows with the frame, its precision in
# the clip's pixels hardly matters beyond it.
WORK_LONG_SIDE = 1280
# A small window: a larger one straddles the edge of a moving thing and drags its points towards the still
# background. Measured on the tests' moving squares: with 21 px and no likeness check (below), 61 % of the tracks
# stayed within 2 px of the truth on 90 % of their frames; with 11 px and the check, all of them.
LK_WINDOW = (11, 11)
LK_LEVELS = 3
LK_STOP = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
# A point followed forward then back must land within this many working pixels of where it started.
FORWARD_BACKWARD_LIMIT = 1.0
# A point must still look like itself: the patch around it, compared (normalised cross-correlation) with the patch
# it had when it was last accepted, a template renewed every TEMPLATE_FRAMES frames. Catches what the
# forward-backward check cannot: a point dragged along by something passing over it, or slipping off an edge.
PATCH = 9
MIN_LIKENESS = 0.75
TEMPLATE_FRAMES = 12
# Corners: OpenCV's quality share of the best corner's response, and their spacing as a share of the short side.
CORNER_QUALITY = 0.01
CORNER_SPACING = 1 / 60
GRID = 4  # the frame is cut into GRID x GRID cells, each seeded on its own, so corners cover the whole frame
RESEED_EVERY = 5  # frames between top-ups of lost points
MOVING_CHANGE = 12  # a grey-level change between two frames above this marks a moving region
MIN_TRACK_FRAMES = 8  # a point followed for fewer frames is noise, not a track (shorter clips: all their frames)
# Frames a point-tracking model is given at once, the first being the last of the window before (where the points
# are known and new ones are seeded): CoTracker's own window, so memory stays at a few frames whatever the clip's
# length. Always this many (a clip's last window is padded with its last frame), so a model exported or traced for
# a fixed number of frames works too.
MODEL_WINDOW = 16


class TrackSettings(ExtractionSettings):
    """Which points are followed and how their trails are drawn (read with `from_dict`, stored with `as_dict`)."""

    kind = "motion track"

    tracks: WholeNumber = Field(
        default=48, ge=1, le=400, title="The number of tracks",
        description="How many points are followed and drawn at most; the ones that move and lie furthest apart "
        "are kept.")
    min_motion: Number = Field(
        default=10.0, ge=0.0, le=1000.0, title="The minimum motion",
        description="A point that never gets further than this from where it started is left out (0 keeps points "
        "that stand still). In pixels of a frame whose short side is 1080, so it means the same at every size.")
    trail_length: WholeNumber = Field(
        default=TRAIL_FRAMES, ge=1, le=200, title="The trail length",
        description="Frames of past positions drawn behind each point, fading from blue (now) to red (oldest); "
        "the Motion-Track IC-LoRA was trained with 50.")
    circle_size: Number = Field(
        default=8.0, ge=1.0, le=32.0, title="The circle size",
        description="Radius of the newest circle in pixels of a frame whose short side is 1080 (scaled with the "
        "clip); older circles shrink to a quarter of it. The Motion-Track IC-LoRA was trained with 8.")

    def min_motion_pixels(self, width: int, height: int) -> float:
        """The minimum motion in pixels of a width x height clip."""
        return self.min_motion * min(width, height) / REFERENCE_SHORT_SIDE


# --- Following points ------------------------------------------------------------------------------------------


class PointFollower:
    """Follows up to `budget` points through frames given one at a time (`add`), then gives them as `Tracks`.

    Frames are (H, W, 3) uint8 RGB. Points are seeded on a frame once the next one is known (the change between
    the two shows what moves), so the tracks of frame t are complete when frame t + 1 has been added.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.frames = 0
        self._size: tuple[int, int] | None = None  # (width, height) frames are followed at; None: the clip's own
        self._scale = np.ones(2)  # working pixels per clip pixel, x and y
        self._previous: np.ndarray | None = None
        self._ids = np.zeros(0, np.int64)  # the points being followed now, and where they are (working pixels)
        self._where = np.zeros((0, 2), np.float32)
        self._templates = np.zeros((0, PATCH * PATCH), np.float32)  # each point's patch, see MIN_LIKENESS
        self._template_age = np.zeros(0, np.int64)
        self._created = 0  # points ever seeded; a point's number is its row in `tracks`
        self._on_frame: list[tuple[np.ndarray, np.ndarray]] = []  # per frame: the points on it and where they are

    def add(self, frame: np.ndarray) -> None:
        gray = self._gray(frame)
        if self._previous is not None:
            if self.frames == 1 or (self.frames - 1) % RESEED_EVERY == 0:
                self._seed(self._previous, gray)
            self._follow(self._previous, gray)
        self._on_frame.append((self._ids, self._where))
        self._previous = gray
        self.frames += 1

    def tracks(self) -> Tracks:
        """Every point followed so far: (N, frames, 2) positions in clip pixels and (N, frames) visibility."""
        if self.frames == 1 and self._previous is not None and self._created == 0:
            self._seed(self._previous, self._previous)  # a one-frame clip: its points, standing still
        points = np.zeros((self._created, self.frames, 2), np.float64)
        visible = np.zeros((self._created, self.frames), bool)
        for t, (ids, where) in enumerate(self._on_frame):
            points[ids, t] = (where + 0.5) / self._scale - 0.5  # pixel centres sit half a pixel in, at any size
            visible[ids, t] = True
        return Tracks(points, visible)

    def _gray(self, frame: np.ndarray) -> np.ndarray:
        height, width = frame.shape[:2]
        if self.frames == 0 and max(width, height) > WORK_LONG_SIDE:
            shrink = WORK_LONG_SIDE / max(width, height)
            self._size = (max(1, round(width * shrink)), max(1, round(height * shrink)))
            self._scale = np.array([self._size[0] / width, self._size[1] / height])
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if self._size is not None:
            gray = cv2.resize(gray, self._size, interpolation=cv2.INTER_AREA)
        return gray

    def _seed(self, gray: np.ndarray, following: np.ndarray) -> None:
        """Add points on `gray`, the last frame added, until `budget` are followed: first where the frame after it,
        `following`, differs from it."""
        want = self.budget - len(self._ids)
        if want <= 0:
            return
        spacing = max(3.0, CORNER_SPACING * min(gray.shape))
        free = np.full(gray.shape, 255, np.uint8)
        for x, y in self._where:
            cv2.circle(free, (round(float(x)), round(float(y))), math.ceil(spacing), 0, thickness=-1)
        moving = _moving_region(gray, following)
        found = _corners(gray, want // 2, spacing, cv2.bitwise_and(free, moving)) if moving.any() else []
        for x, y in found:
            cv2.circle(free, (round(x), round(y)), math.ceil(spacing), 0, thickness=-1)
        found += _spread_corners(gray, want - len(found), spacing, free)
        if not found:
            return
        where = np.asarray(found, np.float32).reshape(-1, 2)
        self._ids = np.concatenate([self._ids, np.arange(self._created, self._created + len(found))])
        self._where = np.concatenate([self._where, where])
        self._templates = np.concatenate([self._templates, _patches(gray, where)])
        self._template_age = np.concatenate([self._template_age, np.zeros(len(found), np.int64)])
        self._created += len(found)
        self._on_frame[-1] = (self._ids, self._where)  # the new points are on that frame too

    def _follow(self, previous: np.ndarray, gray: np.ndarray) -> None:
        """Move every followed point from `previous` to `gray`, dropping the lost ones: not found, not coming back
        to where they were when followed back, no longer looking like themselves, or off the frame."""
        if len(self._ids) == 0:
            return
        start = self._where.reshape(-1, 1, 2)
        ahead, found, _ = cv2.calcOpticalFlowPyrLK(previous, gray, start, None, winSize=LK_WINDOW,
                                                   maxLevel=LK_LEVELS, criteria=LK_STOP)
        back, returned, _ = cv2.calcOpticalFlowPyrLK(gray, previous, ahead, None, winSize=LK_WINDOW,
                                                     maxLevel=LK_LEVELS, criteria=LK_STOP)
        ahead, back = ahead.reshape(-1, 2), back.reshape(-1, 2)
        height, width = gray.shape
        patches = _patches(gray, ahead)
        likeness = (patches * self._templates).sum(axis=1)
        kept = ((found.ravel() == 1) & (returned.ravel() == 1)
                & (np.linalg.norm(back - self._where, axis=1) <= FORWARD_BACKWARD_LIMIT)
                & (likeness >= MIN_LIKENESS)
                & (ahead[:, 0] >= 0) & (ahead[:, 0] <= width - 1) & (ahead[:, 1] >= 0) & (ahead[:, 1] <= height - 1))
        self._ids, self._where = self._ids[kept], ahead[kept]
        self._templates, self._template_age = self._templates[kept], self._template_age[kept] + 1
        renew = self._template_age >= TEMPLATE_FRAMES
        self._templates[renew], self._template_age[renew] = patches[kept][renew], 0


class PointTracker(Protocol):
    """What moves points for `ModelFollower`: `prep.extract.track_model.TrackModel`, or a test's stand-in."""

    def follow(self, frames: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`points` (N, 2) on the first of `frames` ((T, H, W, 3) uint8 RGB) followed through all of them:
        (positions (T, N, 2), shown (T, N) bool)."""
        ...


class ModelFollower(PointFollower):
    """A `PointFollower` whose points a point-tracking model moves, MODEL_WINDOW frames at a time.

    Points are seeded as optical flow seeds them (corners, moving ones first, spread over the frame) at the start of
    each window, and dropped from the first frame the model says they are hidden or they leave the frame. The patch
    likeness check is optical flow's own guard against drifting; the model's visibility takes its place.
    """

    def __init__(self, budget: int, tracker: PointTracker) -> None:
        super().__init__(budget)
        self._tracker = tracker
        self._window: list[tuple[np.ndarray, np.ndarray]] = []  # (gray, RGB) at the working size

    def add(self, frame: np.ndarray) -> None:
        gray = self._gray(frame)
        small = frame if self._size is None else cv2.resize(frame, self._size, interpolation=cv2.INTER_AREA)
        if not self._window:  # the clip's first frame: no points on it until its window is followed
            self._on_frame.append((self._ids, self._where))
        self._window.append((gray, small))
        self._previous = gray
        self.frames += 1
        if len(self._window) == MODEL_WINDOW:
            self._follow_window()

    def tracks(self) -> Tracks:
        if len(self._window) > 1:
            self._follow_window()
        return super().tracks()

    def _follow_window(self) -> None:
        grays = [gray for gray, _ in self._window]
        self._seed(grays[0], grays[1])
        count = len(self._window)
        if len(self._ids):
            frames = [rgb for _, rgb in self._window]
            frames += frames[-1:] * (MODEL_WINDOW - count)
            where, shown = self._tracker.follow(np.stack(frames), self._where)
        else:
            where, shown = np.zeros((count, 0, 2)), np.zeros((count, 0), bool)
        height, width = grays[0].shape
        alive = np.ones(len(self._ids), bool)
        for t in range(1, count):
            x, y = where[t, :, 0], where[t, :, 1]
            alive &= shown[t] & (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
            self._on_frame.append((self._ids[alive], where[t][alive].astype(np.float32)))
        self._ids, self._where = self._ids[alive], where[count - 1][alive].astype(np.float32)
        self._templates, self._template_age = self._templates[alive], self._template_age[alive]
        self._window = self._window[-1:]


_PATCH_OFFSETS = np.arange(PATCH, dtype=np.float32) - PATCH // 2


def _patches(gray: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The PATCH x PATCH patch around each point (N, 2) of `gray`, sampled between pixels, each with mean 0 and
    length 1 so that a dot product is their normalised cross-correlation: (N, PATCH²) float32, 0 when flat."""
    count = len(where)
    if count == 0:
        return np.zeros((0, PATCH * PATCH), np.float32)
    xs = np.broadcast_to(where[:, 0, None, None] + _PATCH_OFFSETS[None, None, :], (count, PATCH, PATCH))
    ys = np.broadcast_to(where[:, 1, None, None] + _PATCH_OFFSETS[None, :, None], (count, PATCH, PATCH))
    sampled = cv2.remap(gray, np.ascontiguousarray(xs.reshape(-1, PATCH), np.float32),
                        np.ascontiguousarray(ys.reshape(-1, PATCH), np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE)
    values = sampled.reshape(count, PATCH * PATCH).astype(np.float32)
    values -= values.mean(axis=1, keepdims=True)
    length = np.linalg.norm(values, axis=1, keepdims=True)
    return np.divide(values, length, out=np.zeros_like(values), where=length > 1e-3)


def _moving_region(gray: np.ndarray, following: np.ndarray) -> np.ndarray:
    """255 where the picture changes between the two frames (blurred, then grown a little), else 0: (H, W) uint8."""
    change = cv2.absdiff(cv2.GaussianBlur(gray, (5, 5), 0), cv2.GaussianBlur(following, (5, 5), 0))
    moving = np.where(change > MOVING_CHANGE, 255, 0).astype(np.uint8)
    grow = max(3, min(gray.shape) // 40) | 1
    return cv2.dilate(moving, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))


def _corners(gray: np.ndarray, count: int, spacing: float, mask: np.ndarray) -> list[tuple[float, float]]:
    """Up to `count` of the strongest corners of `gray` where `mask` is non-zero, at least `spacing` apart."""
    if count <= 0:
        return []
    found = cv2.goodFeaturesToTrack(gray, maxCorners=count, qualityLevel=CORNER_QUALITY, minDistance=spacing,
                                    mask=mask, blockSize=7)
    return [] if found is None else [(float(x), float(y)) for x, y in found.reshape(-1, 2)]


def _spread_corners(gray: np.ndarray, count: int, spacing: float, mask: np.ndarray) -> list[tuple[float, float]]:
    """Up to `count` corners, an equal share from each cell of a GRID x GRID cut of the frame."""
    if count <= 0:
        return []
    height, width = gray.shape
    share = math.ceil(count / (GRID * GRID))
    found: list[tuple[float, float]] = []
    for row in range(GRID):
        for column in range(GRID):
            top, bottom = height * row // GRID, height * (row + 1) // GRID
            left, right = width * column // GRID, width * (column + 1) // GRID
            if bottom - top < 8 or right - left < 8:
                continue  # too small a cell for OpenCV's corner window
            cell = _corners(np.ascontiguousarray(gray[top:bottom, left:right]), share, spacing,
                            np.ascontiguousarray(mask[top:bottom, left:right]))
            found += [(x + left, y + top) for x, y in cell]
    return found[:count]


def follow_points(frames: Iterable[np.ndarray], budget: int, total: int = 0, progress: ProgressFn | None = None,
                  tracker: PointTracker | None = None) -> Tracks:
    """Follow up to `budget` points at a time through `frames` ((H, W, 3) uint8 RGB each) as `Tracks`: with optical
    flow, or with `tracker` when given.

    `progress(done, total)` is called per frame, short of the last.
    """
    follower = PointFollower(budget) if tracker is None else ModelFollower(budget, tracker)
    for frame in frames:
        follower.add(frame)
        if progress is not None and follower.frames < total:
            progress(follower.frames, total)
    return follower.tracks()


# --- Keeping the tracks worth drawing --------------------------------------------------------------------------


def motion(tracks: Tracks) -> np.ndarray:
    """How far each track's point gets from where it is first shown: (N,) pixels (0 for a track never shown)."""
    first = np.argmax(tracks.visible, axis=1)
    start = tracks.points[np.arange(tracks.count), first]
    distance = np.linalg.norm(tracks.points - start[:, None, :], axis=2)
    return np.where(tracks.visible, distance, 0.0).max(axis=1, initial=0.0)


def pick_tracks(tracks: Tracks, count: int, min_motion: float, min_frames: int) -> tuple[Tracks, np.ndarray]:
    """Up to `count` tracks that last `min_frames` frames and move at least `min_motion` pixels, spread out.

    Greedy: the track that moves most first, then each time the one furthest from those chosen (distance between
    their mean positions, counted up to twice as far for a track that moves as much as the most moving one).
    Returns the chosen tracks, in the order they were followed, and their indices (K,) in `tracks`.
    """
    moved = motion(tracks)
    lasting = tracks.visible.sum(axis=1) >= min_frames
    candidates = np.flatnonzero(lasting & (moved >= min_motion))
    if candidates.size <= count:
        return tracks.select(candidates), candidates
    shown = tracks.visible[candidates][:, :, None]
    centre = (tracks.points[candidates] * shown).sum(axis=1) / shown.sum(axis=1)
    weight = 1.0 + moved[candidates] / max(float(moved[candidates].max()), 1e-9)
    chosen = [int(np.argmax(moved[candidates]))]
    nearest = np.linalg.norm(centre - centre[chosen[0]], axis=1)
    while len(chosen) < count:
        pick = int(np.argmax(nearest * weight))
        chosen.append(pick)
        nearest = np.minimum(nearest, np.linalg.norm(centre - centre[pick], axis=1))
    picked = np.sort(candidates[chosen])
    return tracks.select(picked), picked


def tracking_budget(settings: TrackSettings) -> int:
    """How many points are followed at a time for `settings`: spares to choose the tracks from."""
    return min(MAX_CANDIDATES, CANDIDATES_PER_TRACK * settings.tracks)


def choose_tracks(followed: Tracks, settings: TrackSettings, width: int, height: int, name: str) -> Tracks:
    """The tracks worth drawing among the points `followed` in the width x height clip called `name`.

    Raises `ExtractionError` in plain words when there are no frames, nothing was followed, or nothing moves at
    least the minimum motion.
    """
    if followed.frames == 0:
        raise ExtractionError(f"{name} has no frames that could be decoded.")
    if followed.count == 0:
        raise ExtractionError(f"No points worth following were found in {name}: it looks flat, without corners "
                              "or texture. Motion tracks need a clip with visible detail that moves.")
    min_frames = min(MIN_TRACK_FRAMES, followed.frames)
    if not (followed.visible.sum(axis=1) >= min_frames).any():
        raise ExtractionError(f"No point in {name} could be followed for more than a few frames: the picture "
                              "changes too much from frame to frame (fast motion, blur or cuts).")
    least = settings.min_motion_pixels(width, height)
    tracks, _ = pick_tracks(followed, settings.tracks, least, min_frames)
    if tracks.count == 0:
        raise ExtractionError(f"Nothing in {name} moves more than the minimum motion ({settings.min_motion:g} "
                              f"pixels on a 1080-pixel frame, {least:.1f} in this clip), so there are no motion tracks "
                              "to draw. Use a clip where something moves, or lower the minimum motion (0 keeps still "
                              "points too).")
    return tracks


def track_clip(src: Path, settings: TrackSettings, progress: ProgressFn | None = None,
               fmt: ClipFormat | None = None, tracker: PointTracker | None = None) -> tuple[ClipFormat, Tracks, int]:
    """The tracks of `src` worth drawing: (its format, the chosen tracks, how many points were followed in all),
    followed with `tracker` when given (see `follow_points`).

    Raises `ExtractionError` in plain words when the clip has no frames, nothing to follow, or nothing that
    moves at least the minimum motion.
    """
    fmt = fmt or clip_format(src)
    followed = follow_points(read_frames(src, fmt), tracking_budget(settings), fmt.frames, progress, tracker)
    return fmt, choose_tracks(followed, settings, fmt.width, fmt.height, src.name), followed.count


# --- The reference video ---------------------------------------------------------------------------------------


def coordinates_path(dst: Path) -> Path:
    """Where `extract_tracks` keeps the positions of the tracks it drew into `dst`: beside it, as JSON."""
    return dst.with_suffix(".json")


def write_coordinates(tracks: Tracks, fmt: ClipFormat, path: Path) -> None:
    """The tracks' positions as JSON, so that a creator can edit them (the Studio's canvas): the clip's width,
    height, frames and fps, and per track its [x, y] on every frame in the clip's pixels (to a tenth), null where it
    is not shown."""
    rounded = np.round(tracks.points, 1)
    points = [[[float(x), float(y)] if shown else None for (x, y), shown in zip(track, visible, strict=True)]
              for track, visible in zip(rounded, tracks.visible, strict=True)]
    path.write_text(json.dumps({"width": fmt.width, "height": fmt.height, "frames": tracks.frames, "fps": fmt.fps,
                                "points": points}, separators=(",", ":")))


def extract_tracks(src: Path, dst: Path, settings: TrackSettings, progress: ProgressFn | None = None,
                   tracker: PointTracker | None = None) -> ExtractionReport:
    """Write the motion-track video of `src` to `dst` (H.264 mp4): same frame count, exact fps and size; and the
    tracks' positions beside it (`coordinates_path`). Points are followed with `tracker` when given, else with
    optical flow.

    Deterministic: the same clip and settings give the same frames. Raises `ExtractionError` (see `track_clip`)
    when there is nothing to draw, or when `src` cannot be read or `dst` written.
    """
    started = time.monotonic()
    fmt, tracks, followed = track_clip(src, settings, progress, tracker=tracker)
    drawing = TrackDrawing(fmt.width, fmt.height, trail=settings.trail_length, radius=settings.circle_size)
    with FrameWriter(dst, fmt) as writer:
        for frame in drawing.frames(tracks):
            writer.write(frame)
    write_coordinates(tracks, fmt, coordinates_path(dst))
    if progress is not None:
        progress(writer.count, writer.count)
    # A frame is empty when no track is shown on it nor on the trail's frames before it.
    recent = np.convolve(tracks.visible.any(axis=0).astype(np.int64), np.ones(settings.trail_length + 1, np.int64))
    empty = int((recent[:tracks.frames] == 0).sum())
    notes = [f"{tracks.count} tracks drawn, picked from {followed} points followed; trails of "
             f"{settings.trail_length} frames, newest blue, oldest red."]
    if tracker is not None:
        notes.append("The points were followed by this server's point-tracking model.")
    if empty:
        notes.append(f"{empty} of {tracks.frames} frames show no track; those frames stay black.")
    return ExtractionReport(method="tracks", frames=writer.count, fps=fmt.fps, width=fmt.width, height=fmt.height,
                            seconds=round(time.monotonic() - started, 2), empty_frames=empty, notes=notes)
