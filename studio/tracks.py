"""The Studio's motion-track canvas, server side: the tracks a creator drew, read from the form and drawn as the
generation's reference at the size, length and rate it will be made at; and a clip's own tracks as keypoints to
edit.

The checking, the paths and the drawing are prep's (`prep.extract.drawn_tracks`, with Lightricks' spline and
renderer); this module knows the generation's size (`studio.generation`) and the stored extraction.
"""

from __future__ import annotations

import base64
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.core.files.uploadedfile import SimpleUploadedFile

from engine.inference import SettingsError, snap_settings
from engine.media import fps_text
from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.services import tracks_coordinates
from studio.generation import defaults_for, frame_rate_default, temporal_scale_of
from studio.models import Adapter

if TYPE_CHECKING:  # numpy and ffmpeg's writer come with it: imported where tracks are drawn (see read_drawn)
    from prep.extract.drawn_tracks import DrawnTracks

REFERENCE_NAME = "motion-tracks.mp4"


class TracksRefused(ValueError):
    """Drawn tracks that cannot become a reference; the message is for the creator."""


@dataclass(frozen=True)
class DrawnSize:
    """The size, length and rate the drawn tracks are rendered at: the generation's own, snapped as it will be."""

    width: int
    height: int
    frames: int
    fps: float

    def describe(self) -> str:
        return f"{self.width}×{self.height}, {self.frames} frames at {fps_text(self.fps)} fps"


def read_drawn(text: str) -> DrawnTracks:
    """The form's drawn tracks (the canvas's JSON) as a checked `DrawnTracks`; `TracksRefused` says what is wrong."""
    # numpy and ffmpeg's writer come with prep.extract: loaded when tracks are drawn, not by every web request
    from prep.extract.drawn_tracks import DrawnTracks

    try:
        return DrawnTracks.read(text)
    except ExtractionError as error:
        raise TracksRefused(str(error)) from None


def drawn_size(adapter: Adapter | None, values: dict[str, Any]) -> DrawnSize:
    """The generation's size, frames and rate for the form's `values` (blanks: the adapter's defaults), snapped as
    `create_generation` snaps them; `TracksRefused` when they cannot be."""
    defaults = defaults_for(adapter)
    downscale = adapter.reference_downscale_factor if adapter else 1
    temporal = temporal_scale_of(adapter) if adapter else 1
    try:
        snapped = snap_settings(values.get("num_frames") or defaults.num_frames, values.get("height") or
                                defaults.height, values.get("width") or defaults.width, downscale, None, temporal)
    except SettingsError as error:
        raise TracksRefused(error.message) from None
    fps = _number(values.get("frame_rate")) or frame_rate_default(adapter).fps or defaults.frame_rate
    return DrawnSize(snapped.width, snapped.height, snapped.num_frames, fps)


def _number(value: Any) -> float | None:
    try:
        number = float(str(value))
    except ValueError:
        return None
    return number if 1 <= number <= 60 else None


def render_reference(drawn: DrawnTracks, size: DrawnSize) -> bytes:
    """The drawn tracks rendered as the Motion-Track reference video at `size`: the mp4's bytes."""
    # numpy and ffmpeg's writer: loaded when tracks are drawn, not by every web request
    from prep.extract.drawn_tracks import render

    tracks = drawn.paths(size.width, size.height, size.frames)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / REFERENCE_NAME
        try:
            render(tracks, size.width, size.height, size.fps, path)
        except ExtractionError as error:
            raise TracksRefused(str(error)) from None
        return path.read_bytes()


def reference_upload(drawn: DrawnTracks, size: DrawnSize) -> SimpleUploadedFile:
    """The rendered reference as the generation form's upload would be."""
    return SimpleUploadedFile(REFERENCE_NAME, render_reference(drawn, size), "video/mp4")


def drawn_reference_name(drawn: DrawnTracks) -> str:
    count = len(drawn.tracks)
    return f"the {count} motion track{'s' if count != 1 else ''} you drew"


def as_data_url(video: bytes) -> str:
    """The rendered video inline in the page, for a look before generating (tens of kilobytes: trails on black)."""
    return "data:video/mp4;base64," + base64.b64encode(video).decode("ascii")


def canvas_json(tracks: dict[str, Any] | None) -> str:
    """Stored tracks as the canvas reads them back (Reuse these settings); "" when there are none."""
    return json.dumps(tracks, separators=(",", ":")) if tracks else ""


def clip_keypoints(extraction: Extraction, width: int, height: int, frames: int, fps: float,
                   most_tracks: int = 8) -> list[list[dict[str, float]]]:
    """The tracks a finished motion-track extraction followed, placed on a width × height canvas of `frames` frames
    at `fps` (what happens after its last frame left out), as a few editable keypoints each: the `most_tracks` that
    move most and lie furthest apart there. `TracksRefused` when the extraction kept no positions."""
    # numpy: loaded when a clip's tracks are asked for, not by every web request
    from prep.extract.drawn_tracks import (
        as_canvas_json,
        editable_keypoints,
        followed_tracks,
        moving_and_apart,
        on_canvas,
    )

    stored = tracks_coordinates(extraction)
    if stored is None:
        raise TracksRefused("These motion tracks were made before their positions were kept; make them again from "
                            "the clip.")
    try:
        followed, clip = followed_tracks(stored)
    except ExtractionError as error:
        raise TracksRefused(str(error)) from None
    placed = moving_and_apart(on_canvas(followed, clip, (width, height, frames, fps)), most_tracks)
    return as_canvas_json(editable_keypoints(placed))
