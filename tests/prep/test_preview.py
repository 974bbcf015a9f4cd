"""Live previews of extraction settings: the motion-track preview, and the points it keeps to redraw quickly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from django.core.files.base import ContentFile

from prep.extract.base import ExtractionError
from prep.models import Extraction
from prep.preview import tracks_preview_png
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares


@pytest.fixture
def stored_clip(settings, tmp_path: Path, creator) -> tuple[Extraction, str]:
    """A clip stored as an extraction's source (no row saved), and its content hash."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.DATA_DIR = tmp_path / "data"
    data = write_moving_squares(tmp_path / "squares.mp4", SLIDING_SQUARES, frames=40).read_bytes()
    extraction = Extraction(owner=creator, method="tracks", source_name="squares.mp4")
    extraction.source.save("squares.mp4", ContentFile(data), save=False)
    return extraction, hashlib.sha256(data).hexdigest()


def picture(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a PNG"
    return image


def cache_files(settings) -> list[str]:
    return sorted(path.name for path in (Path(settings.DATA_DIR) / "cache" / "preview-tracks").glob("*"))


@pytest.mark.django_db
def test_the_tracks_preview_is_the_clips_frame_with_tracks_beside_the_tracks_alone(stored_clip, settings) -> None:
    extraction, sha = stored_clip
    image = picture(tracks_preview_png(extraction.source, sha, "squares.mp4", {"tracks": 12}))
    assert image.shape == (176, 256 + 8 + 256, 3)
    over, alone = image[:, :256].astype(int), image[:, 264:].astype(int)
    black = alone.sum(axis=2) == 0
    assert 0 < (~black).sum() < black.sum()  # sparse coloured dots on black
    assert over[black].mean() > 20  # where no dot is drawn, the clip shows through


@pytest.mark.django_db
def test_points_are_followed_once_per_number_of_tracks_and_redrawn_for_the_other_settings(
        stored_clip, settings) -> None:
    extraction, sha = stored_clip
    first = tracks_preview_png(extraction.source, sha, "squares.mp4", {"tracks": 12, "trail_length": 10})
    assert len(cache_files(settings)) == 1
    Path(extraction.source.path).unlink()  # from now on the points can only come from what was kept
    longer = tracks_preview_png(extraction.source, sha, "squares.mp4", {"tracks": 12, "trail_length": 30})
    bigger = tracks_preview_png(extraction.source, sha, "squares.mp4", {"tracks": 12, "circle_size": 16})
    assert len({first, longer, bigger}) == 3 and len(cache_files(settings)) == 1
    # Another number of tracks follows the points again, from the clip, which is gone now.
    with pytest.raises(ExtractionError, match="could not be read as a video"):
        tracks_preview_png(extraction.source, sha, "squares.mp4", {"tracks": 13})


@pytest.mark.django_db
def test_bad_settings_are_refused_in_plain_words_before_the_clip_is_read(stored_clip) -> None:
    extraction, sha = stored_clip
    with pytest.raises(ExtractionError, match=r"^The circle size must be between 1 and 32 \(it is 40\)\.$"):
        tracks_preview_png(extraction.source, sha, "squares.mp4", {"circle_size": 40})
