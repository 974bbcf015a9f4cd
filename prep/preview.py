"""One still frame of a clip, or the points followed up to it, cached on disk by content, for live previews of
extraction settings.

numpy and OpenCV are imported inside the functions: the web process loads this module with its URLs.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models.fields.files import FieldFile

from datasets.services import local_path
from engine.media import standard_range
from prep.extract.base import ExtractionError

if TYPE_CHECKING:
    import numpy as np

    from prep.extract.track_preview import FollowedWindow

PREVIEW_WIDTH = 480


def _cache_path(sha256: str) -> Path:
    return Path(settings.DATA_DIR) / "cache" / "preview-frames" / f"{sha256}.npy"


def still_frame(field: FieldFile, sha256: str, seconds: float) -> np.ndarray:
    """A frame from `seconds` in, scaled to at most PREVIEW_WIDTH wide: (H, W, 3) uint8 RGB."""
    # cv2/numpy: loaded when a preview is drawn, not by every web process
    import numpy as np

    cached = _cache_path(sha256)
    if cached.exists():
        return np.load(cached)
    with local_path(field) as path:
        frame = _decode_one(path, seconds)
    cached.parent.mkdir(parents=True, exist_ok=True)
    np.save(cached, frame)
    return frame


def _decode_one(path: Path, seconds: float) -> np.ndarray:
    scale = standard_range(path, f"scale='min({PREVIEW_WIDTH},iw)':-2")
    probe = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", f"{seconds:.2f}", "-i", str(path),
                            "-frames:v", "1", "-vf", scale, "-f", "image2pipe", "-vcodec", "png", "pipe:"],
                           capture_output=True, check=False, timeout=60)
    if probe.returncode or not probe.stdout:
        raise ExtractionError("A preview frame could not be read from this clip.")
    # cv2/numpy: loaded when a preview is drawn, not by every web process
    import cv2
    import numpy as np

    image = cv2.imdecode(np.frombuffer(probe.stdout, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ExtractionError("A preview frame could not be read from this clip.")
    return np.ascontiguousarray(image[:, :, ::-1])


def side_by_side_png(left: np.ndarray, right: np.ndarray) -> bytes:
    """Two (H, W, 3) RGB frames of the same size next to each other, with a thin gap, as PNG bytes."""
    # cv2/numpy: loaded when a preview is drawn, not by every web process
    import cv2
    import numpy as np

    gap = np.full((left.shape[0], 8, 3), 255, np.uint8)
    ok, data = cv2.imencode(".png", np.concatenate([left, gap, right], axis=1)[:, :, ::-1])
    if not ok:
        raise ExtractionError("The preview could not be drawn.")
    return bytes(data)


# Bumped when what is cached for a motion-track preview changes, so older files are not read as new ones.
TRACKS_CACHE_VERSION = 1


def tracks_preview_png(field: FieldFile, sha256: str, name: str, values: dict[str, Any]) -> bytes:
    """A frame of the clip with the motion tracks `values` make drawn over it, beside the tracks alone (PNG).

    The points followed depend only on the number of tracks, so they are cached by clip and number: changing the
    other settings only redraws. Bad settings, or a clip with nothing to draw, raise `ExtractionError` in plain words.
    """
    # cv2/numpy (prep.extract.*): loaded when a preview is drawn, not by every web process
    from prep.extract.track_preview import draw_preview
    from prep.extract.tracks import TrackSettings, tracking_budget

    chosen = TrackSettings.from_dict(values)
    window = _followed_window(field, sha256, tracking_budget(chosen))
    over, alone = draw_preview(window, chosen, name)
    return side_by_side_png(over, alone)


def _followed_window(field: FieldFile, sha256: str, budget: int) -> FollowedWindow:
    # cv2/numpy (prep.extract.*): loaded when a preview is drawn, not by every web process
    import numpy as np

    from prep.extract.track_drawing import Tracks
    from prep.extract.track_preview import FollowedWindow, follow_window, frames_followed
    from prep.extract.video import clip_format, read_frames

    cached = Path(settings.DATA_DIR) / "cache" / "preview-tracks" / f"{sha256}-{budget}-v{TRACKS_CACHE_VERSION}.npz"
    if cached.exists():
        with np.load(cached) as stored:
            return FollowedWindow(Tracks(stored["points"], stored["visible"]), stored["frame"])
    with local_path(field) as path:
        fmt = clip_format(path)
        width = min(PREVIEW_WIDTH, fmt.width)
        size = (width, max(1, round(fmt.height * width / fmt.width)))
        span = frames_followed(fmt.frames)
        with contextlib.closing(read_frames(path, fmt, size)) as frames:
            window = follow_window(itertools.islice(frames, span.start, span.stop), budget)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_name(f"{cached.stem}.{secrets.token_hex(4)}.partial")
    with partial.open("wb") as out:  # written whole, then renamed: a request at the same time never reads half
        np.savez_compressed(out, points=window.followed.points, visible=window.followed.visible, frame=window.frame)
    partial.replace(cached)
    return window
