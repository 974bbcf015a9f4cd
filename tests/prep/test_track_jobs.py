"""Motion tracks as an extraction job: asked for, cached and run on the cpu queue like edges, pose and depth."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from prep.extract.base import ExtractionError
from prep.extract.video import clip_format
from prep.models import Extraction
from prep.services import delete_unused_extractions, request_extraction, run_extraction, tracks_coordinates
from tests.factories import sent_tasks
from tests.prep.conftest import SLIDING_SQUARES, MovingSquare, write_moving_squares

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    clip = write_moving_squares(tmp_path_factory.mktemp("jobs") / "squares.mp4", SLIDING_SQUARES, frames=24)
    return clip.read_bytes()


def ask(owner, data: bytes, values: dict | None = None, name: str = "squares.mp4") -> Extraction:
    return request_extraction(owner, "tracks", values or {}, ContentFile(data, name=name), name,
                              hashlib.sha256(data).hexdigest(), owns_source=True)


def test_motion_tracks_are_queued_on_the_cpu_queue_and_made_by_the_worker(
        creator, squares, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        extraction = ask(creator, squares, {"tracks": "12"})
    assert extraction.state == Extraction.State.QUEUED and extraction.get_method_display() == "Motion tracks"
    assert extraction.settings == {"tracks": 12, "min_motion": 10.0, "trail_length": 50, "circle_size": 8.0}
    assert sent_tasks(callbacks) == [("prep.tasks.extract", (extraction.pk,))]
    assert [callback.keywords.get("queue") for callback in callbacks] == ["cpu"]

    run_extraction(extraction.pk, "test-worker")

    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    fmt = clip_format(extraction.output.path)
    assert (fmt.width, fmt.height, fmt.frames, fmt.fps) == (256, 176, 24, 24.0)
    assert extraction.report["method"] == "tracks" and "12 tracks drawn" in extraction.report["notes"][0]
    assert (extraction.frames_done, extraction.frames_total, extraction.percent) == (24, 24, 100)
    assert Path(extraction.output.name).name.endswith("_tracks.mp4")


def test_the_same_clip_and_settings_reuse_the_finished_tracks_and_new_settings_make_new_ones(creator, squares):
    first = ask(creator, squares)
    run_extraction(first.pk, "test-worker")
    assert ask(creator, squares, {"min_motion": "10"}).pk == first.pk, "the defaults, written out"
    longer = ask(creator, squares, {"trail_length": 20})
    assert longer.pk != first.pk and longer.state == Extraction.State.QUEUED


def test_bad_settings_are_refused_before_anything_is_queued(creator, squares):
    with pytest.raises(ExtractionError, match=r"^The trail length must be between 1 and 200 \(it is 500\)\.$"):
        ask(creator, squares, {"trail_length": 500})
    assert not Extraction.objects.exists()


def test_a_clip_where_nothing_moves_fails_with_the_reason_in_plain_words(creator, tmp_path):
    resting = [MovingSquare(square.start, (0.0, 0.0)) for square in SLIDING_SQUARES]
    still = write_moving_squares(tmp_path / "still.mp4", resting, frames=12).read_bytes()
    extraction = ask(creator, still, name="garden.mp4")
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.FAILED and not extraction.output
    assert extraction.error_message.startswith("Nothing in garden.mp4 moves more than the minimum motion")


def test_the_made_tracks_keep_their_positions_beside_the_video_and_go_with_it(creator, squares):
    extraction = ask(creator, squares, {"tracks": "6"})
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    stored = tracks_coordinates(extraction)
    assert stored is not None and (stored["width"], stored["height"], stored["frames"], stored["fps"]) == (
        256, 176, 24, 24.0)
    assert len(stored["points"]) == 6 and all(len(track) == 24 for track in stored["points"])
    name = extraction.report["coordinates"]
    assert name == str(Path(extraction.output.name).with_suffix(".json"))
    Extraction.objects.filter(pk=extraction.pk).update(created_at=timezone.now() - timedelta(days=30))

    assert delete_unused_extractions()[0] == 1

    assert not default_storage.exists(name) and not Extraction.objects.exists()
