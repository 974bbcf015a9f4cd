"""Motion-track references: sparse point tracks drawn as fading trails of circles on black, frame for frame.

The drawing follows the format of Lightricks' LTX-2.3 Motion-Track Control IC-LoRA
(`ltx-2.3-22b-ic-lora-motion-track-control-ref0.5`), whose reference videos are made by the `LTXVDrawTracks` node
of Lightricks/ComfyUI-LTXVideo, file `sparse_tracks.py` (read at commit aceeae9, 2026-06-29; the file dates from
5c3d208). This module is our own implementation of the rules read there:

- Tracks are points in the output's pixels (x, y; a pixel's centre at whole numbers), one position per frame. A
  track is shown on the frames it has a position for; the node's tracks all start on frame 0 and a track shorter
  than the clip simply stops (its trail then fades out), which `visible` expresses, along with tracks that start
  later.
- Circles are drawn at a reference resolution whose short side is 1080 pixels (the long side in proportion,
  truncated to whole pixels), then the frame is scaled to the output size with bilinear interpolation (half-pixel
  centres, no antialiasing: PyTorch's `interpolate(mode="bilinear", align_corners=False)`). Sizes below are in
  reference pixels, so a trail looks the same at every output size.
- On frame t each visible point of the last 50 frames is a filled circle: the circle of frame τ has the age
  a = t − τ (0…50) and the freshness r = 1 − a / 50. A reference pixel belongs to a circle when its squared distance
  from the circle's centre (the point scaled to the reference size, rounded half to even) is at most radius²,
  the radius growing linearly from 2 (oldest) to 8 (newest): 2 + 6 r.
- The colour depends on the age only, the same for every track: newest blue, through cyan and green, to red for
  the oldest. The node computes red → yellow → green → blue and then swaps the channels ("RGB -> BGR to match
  IC-LoRA training data format"); in the video's own RGB that is, for freshness r:
  r ≤ 1/3: (1 − 3r, 3r, 0); 1/3 < r ≤ 2/3: (0, 1, 3(r − 1/3)); r > 2/3: (0, 1 − 3(r − 2/3), 1).
- Older circles are drawn first, so where circles overlap the newest one's colour is kept; the background is black.
  Colours are 0…1 and become 8-bit values rounded to the nearest level.

Trail length and the newest circle's radius are settings here (`TrackDrawing(trail=…, radius=…)`); the oldest
circle keeps the node's proportion, a quarter of the newest. Their defaults are the node's 50 frames and 8 pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

REFERENCE_SHORT_SIDE = 1080
TRAIL_FRAMES = 50
NEWEST_RADIUS = 8.0
OLDEST_SHARE = 0.25  # the oldest circle's radius as a share of the newest's: 2 of 8 in the node


@dataclass(frozen=True)
class Tracks:
    """Points followed through a clip: where each is on every frame and on which frames it is shown.

    points: (N, T, 2) float64, x then y in pixels of the clip (a pixel's centre at whole numbers); positions on
    frames where a track is not shown are ignored. visible: (N, T) bool.
    """

    points: np.ndarray
    visible: np.ndarray

    def __post_init__(self) -> None:
        if self.points.ndim != 3 or self.points.shape[2] != 2 or self.visible.shape != self.points.shape[:2]:
            raise ValueError(f"points {self.points.shape} and visible {self.visible.shape} do not describe tracks")

    @property
    def count(self) -> int:
        return int(self.points.shape[0])

    @property
    def frames(self) -> int:
        return int(self.points.shape[1])

    def select(self, indices: np.ndarray | list[int]) -> Tracks:
        """The tracks at `indices`, in that order."""
        chosen = np.asarray(indices, dtype=np.int64)
        return Tracks(self.points[chosen], self.visible[chosen])


def reference_size(width: int, height: int) -> tuple[int, int]:
    """(width, height) of the resolution circles are drawn at: short side 1080, the other in proportion."""
    if height <= width:
        return int(width * REFERENCE_SHORT_SIDE / height), REFERENCE_SHORT_SIDE
    return REFERENCE_SHORT_SIDE, int(height * REFERENCE_SHORT_SIDE / width)


def age_colour(freshness: float) -> tuple[float, float, float]:
    """The RGB colour (0…1) of a circle of freshness 1 − age / trail: blue when new, red when old."""
    r = freshness
    if r <= 1 / 3:
        return 1 - 3 * r, 3 * r, 0.0
    if r <= 2 / 3:
        return 0.0, 1.0, 3 * (r - 1 / 3)
    return 0.0, 1 - 3 * (r - 2 / 3), 1.0


@dataclass(frozen=True)
class _Axis:
    """Bilinear sampling of one axis from `size_in` reference pixels to `size_out` output pixels.

    Each output pixel reads two reference pixels: `first` and `second` (their places among the `kept` reference
    pixels, sorted), weighted `1 - weight` and `weight`.
    """

    kept: np.ndarray  # (K,) reference pixels some output pixel reads
    place: np.ndarray  # (size_in,) each reference pixel's index in `kept`, -1 when no output pixel reads it
    first: np.ndarray  # (size_out,)
    second: np.ndarray  # (size_out,)
    weight: np.ndarray  # (size_out,) float32

    @classmethod
    def of(cls, size_in: int, size_out: int) -> _Axis:
        # float32 as PyTorch computes it for float32 frames; a source index below 0 is clamped to 0.
        scale = np.float32(size_in) / np.float32(size_out)
        source = np.maximum(scale * (np.arange(size_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5), 0)
        low = source.astype(np.int64)
        high = np.minimum(low + 1, size_in - 1)
        weight = np.clip(source - low, 0, 1).astype(np.float32)
        kept = np.unique(np.concatenate([low, high]))
        place = np.full(size_in, -1, np.int64)
        place[kept] = np.arange(len(kept))
        return cls(kept, place, place[low], place[high], weight)


class TrackDrawing:
    """Draws `Tracks` as frames of one output size in the Motion-Track format (see the module's docstring).

    Only the reference pixels that bilinear scaling reads (two rows and two columns per output pixel) are drawn,
    which gives the same frames as drawing the whole reference frame at a fraction of the cost.
    """

    def __init__(self, width: int, height: int, trail: int = TRAIL_FRAMES, radius: float = NEWEST_RADIUS) -> None:
        if width < 1 or height < 1 or trail < 1 or radius <= 0:
            raise ValueError(f"cannot draw tracks at {width}x{height} with a trail of {trail} and radius {radius}")
        self.width, self.height, self.trail = width, height, trail
        self.ref_width, self.ref_height = reference_size(width, height)
        self.scale = (self.ref_width / width, self.ref_height / height)
        self._x, self._y = _Axis.of(self.ref_width, width), _Axis.of(self.ref_height, height)
        ages = np.arange(trail + 1, dtype=np.float32)
        freshness = np.float32(1) - ages / np.float32(trail)
        newest, oldest = np.float32(radius), np.float32(radius * OLDEST_SHARE)
        radii = oldest + (newest - oldest) * freshness  # float32, as the node compares squared distances
        reach = int(np.ceil(radius))
        dy, dx = np.mgrid[-reach:reach + 1, -reach:reach + 1]
        distance_sq = (dx * dx + dy * dy).astype(np.float32)
        # Per age: the (dx, dy) offsets of the pixels inside that age's circle.
        inside = distance_sq[None] <= (radii * radii)[:, None, None]  # (trail + 1, 2 reach + 1, 2 reach + 1)
        self._offsets = [np.stack([dx[mask], dy[mask]], axis=1) for mask in inside]
        # Colour index 0 is black; age a has index trail + 1 - a, so a newer circle has a larger index.
        colours = [(0.0, 0.0, 0.0)] + [age_colour(float(f)) for f in freshness[::-1]]
        self._palette = np.asarray(colours, np.float32)

    def centres(self, tracks: Tracks) -> np.ndarray:
        """Each point's reference pixel: (N, T, 2) int64, x then y; positions where not shown are arbitrary."""
        # Far-off points (a path swinging out of the frame) are clamped well outside it rather than overflowing.
        scaled = np.clip(np.nan_to_num(tracks.points) * np.asarray(self.scale), -1e6, 1e6)
        # The node scales in float64, stores float32, then rounds half to even (torch.round).
        return np.rint(scaled.astype(np.float32)).astype(np.int64)

    def frame(self, tracks: Tracks, t: int, centres: np.ndarray | None = None) -> np.ndarray:
        """Frame `t` of the drawing: (height, width, 3) uint8 RGB. `centres` (from `centres`) saves recomputing."""
        if not 0 <= t < tracks.frames:
            raise IndexError(f"frame {t} of tracks with {tracks.frames} frames")
        if centres is None:
            centres = self.centres(tracks)
        index = self._stamp(tracks.visible, centres, t)
        return self._scaled(index)

    def frames(self, tracks: Tracks) -> Iterator[np.ndarray]:
        """Every frame of the drawing in order, as `frame` gives them."""
        centres = self.centres(tracks)
        for t in range(tracks.frames):
            yield self.frame(tracks, t, centres)

    def _stamp(self, visible: np.ndarray, centres: np.ndarray, t: int) -> np.ndarray:
        """The colour index of every kept reference pixel on frame t: (rows kept, columns kept) uint8/uint16."""
        x, y = self._x, self._y
        dtype = np.uint8 if self.trail < 255 else np.uint16
        index = np.zeros((len(y.kept), len(x.kept)), dtype)
        flat = index.reshape(-1)
        for age in range(min(t, self.trail), -1, -1):  # oldest first: a newer circle overwrites an older one
            shown = visible[:, t - age]
            if not shown.any():
                continue
            offsets = self._offsets[age]
            px = (centres[shown, t - age, 0][:, None] + offsets[None, :, 0]).ravel()
            py = (centres[shown, t - age, 1][:, None] + offsets[None, :, 1]).ravel()
            inside = (px >= 0) & (px < self.ref_width) & (py >= 0) & (py < self.ref_height)
            column, row = x.place[px[inside]], y.place[py[inside]]
            kept = (column >= 0) & (row >= 0)
            # Every pixel written in this pass gets the same value, so repeated pixels cannot disagree.
            flat[row[kept] * len(x.kept) + column[kept]] = self.trail + 1 - age
        return index

    def _scaled(self, index: np.ndarray) -> np.ndarray:
        """Bilinear scaling of the stamped reference pixels to the output size: (height, width, 3) uint8."""
        x, y = self._x, self._y
        out = np.zeros((self.height, self.width, 3), np.uint8)
        # Rows first: most rows of a sparse drawing are empty, and those are skipped before columns are read.
        used = np.any(index, axis=1)
        rows = np.flatnonzero(used[y.first] | used[y.second])
        if rows.size == 0:
            return out
        top, bottom = index[y.first[rows]], index[y.second[rows]]
        # np.take keeps the result C-ordered: indexing the second axis with [:, …] would not, and every
        # reshape below would copy.
        corners = [np.take(part, column, axis=1).reshape(-1) for part in (top, bottom)
                   for column in (x.first, x.second)]
        drawn = np.flatnonzero(corners[0] | corners[1] | corners[2] | corners[3])
        if drawn.size == 0:
            return out
        row, column = np.divmod(drawn, self.width)
        wy, wx = y.weight[rows[row]][:, None], x.weight[column][:, None]
        one = np.float32(1)
        value = ((one - wy) * ((one - wx) * self._palette[corners[0][drawn]] + wx * self._palette[corners[1][drawn]])
                 + wy * ((one - wx) * self._palette[corners[2][drawn]] + wx * self._palette[corners[3][drawn]]))
        drawn = rows[row] * self.width + column
        out.reshape(-1, 3)[drawn] = np.rint(np.clip(value * 255, 0, 255)).astype(np.uint8)
        return out
