"""The Studio's motion-track canvas, server side: drawn tracks rendered for a look and as a generation's reference,
kept with the generation for reuse, refused in plain words; a clip's own motion handed back as keypoints."""

from __future__ import annotations

import base64
import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from datasets.models import ClipPair
from prep.extract.drawn_tracks import DrawnTracks, render
from prep.extract.video import ClipFormat, clip_format, read_frames
from prep.models import Extraction
from prep.services import run_extraction, tracks_coordinates
from studio.models import Generation
from tests.factories import make_dataset
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares
from tests.studio.test_generation import fields, random_adapter, upload_of

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(120)]

# Two tracks on the form's 128 × 96 canvas of 9 frames (tests.studio.test_generation.fields).
TWO_TRACKS = {"width": 128, "height": 96, "frames": 9, "tracks": [
    [{"x": 10, "y": 20, "frame": 0}, {"x": 64, "y": 48, "frame": 4}, {"x": 118, "y": 30, "frame": 8}],
    [{"x": 100, "y": 80, "frame": 2}, {"x": 30, "y": 70, "frame": 8}],
]}


@pytest.fixture(autouse=True)
def own_media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


def frames_of(path: Path) -> list[np.ndarray]:
    return list(read_frames(path, clip_format(path)))


def test_rendering_shows_the_reference_the_generation_would_get_at_its_size_length_and_rate(maya, creator, tmp_path):
    adapter = random_adapter(creator)
    response = maya.post(reverse("studio_tracks_render"), {**fields(width="130", frame_rate="12"),
                                                           "adapter_choice": f"adapter-{adapter.pk}",
                                                           "drawn_tracks": json.dumps(TWO_TRACKS)})
    page = response.content.decode()
    assert response.status_code == 200 and page.lstrip().startswith('<div id="tracks-rendered"')
    assert "2 tracks · 128×96, 9 frames at 12 fps" in page  # 130 snapped to 128, as the generation will be
    video = tmp_path / "shown.mp4"
    video.write_bytes(base64.b64decode(page.split('src="data:video/mp4;base64,')[1].split('"')[0]))
    assert clip_format(video) == ClipFormat(Fraction(12), 128, 96, 9)
    expected = tmp_path / "expected.mp4"
    render(DrawnTracks.read(json.dumps(TWO_TRACKS)).paths(128, 96, 9), 128, 96, 12.0, expected)
    assert all(np.array_equal(a, b) for a, b in zip(frames_of(video), frames_of(expected), strict=True))


@pytest.mark.parametrize(("tracks", "message"), [
    ([], "There are no tracks yet: draw at least one path for something to follow."),
    ([[{"x": 10, "y": 20, "frame": 0}]], "Track 1 has only one point (x 10, y 20); a track needs at least two points"),
    ([[{"x": 10, "y": 20, "frame": 0}, {"x": 10, "y": 20, "frame": 8}]], "None of the tracks moves"),
    ([[{"x": 10, "y": 20, "frame": 0}, {"x": 200, "y": 20, "frame": 8}]],
     "Point 2 of track 1 (x 200, y 20) is outside the 128×96 frame."),
], ids=["no-tracks", "one-point", "no-motion", "outside-the-frame"])
def test_tracks_that_cannot_be_drawn_get_a_plain_message_on_render_and_on_generate(maya, creator, tracks, message):
    adapter = random_adapter(creator)
    data = {**fields(), "adapter_choice": f"adapter-{adapter.pk}", "drawn_tracks": json.dumps({**TWO_TRACKS,
                                                                                              "tracks": tracks})}
    shown = maya.post(reverse("studio_tracks_render"), data).content.decode()
    assert 'role="alert"' in shown and message in shown and "data:video" not in shown
    response = maya.post(reverse("studio"), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert Generation.objects.count() == 0


def test_the_generation_form_with_tracks_makes_a_generation_whose_reference_is_the_rendered_video(
    maya, creator, tmp_path, django_capture_on_commit_callbacks
):
    adapter = random_adapter(creator)
    with django_capture_on_commit_callbacks():
        response = maya.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{adapter.pk}",
                                                 "drawn_tracks": json.dumps(TWO_TRACKS)})
    generation = Generation.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studio/generations/{generation.pk}/"
    assert generation.drawn_tracks == TWO_TRACKS
    assert generation.settings["reference_name"] == "the 2 motion tracks you drew"
    assert (generation.settings["num_frames"], generation.settings["width"], generation.settings["height"]) == (
        9, 128, 96)
    expected = tmp_path / "expected.mp4"
    render(DrawnTracks.read(json.dumps(TWO_TRACKS)).paths(128, 96, 9), 128, 96, 24.0, expected)
    stored = frames_of(Path(generation.reference_file.path))
    assert len(stored) == 9 and all(np.array_equal(a, b) for a, b in zip(stored, frames_of(expected), strict=True))


def test_reusing_the_settings_puts_the_tracks_back_on_the_canvas(maya, creator, django_capture_on_commit_callbacks):
    adapter = random_adapter(creator)
    with django_capture_on_commit_callbacks():
        maya.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{adapter.pk}",
                                      "drawn_tracks": json.dumps(TWO_TRACKS)})
    generation = Generation.objects.get()
    page = maya.get(reverse("studio") + f"?reuse={generation.pk}").content.decode()
    value = page.split('id="drawn_tracks" value="')[1].split('"')[0].replace("&quot;", '"')
    assert json.loads(value) == TWO_TRACKS
    assert "<details class=\"card tracks-card\" id=\"tracks-card\" open>" in page
    assert 'name="reuse_reference"' not in page, "the tracks are the reference: nothing else to tick"


def test_tracks_and_another_reference_together_are_refused_in_plain_words(maya, creator, tmp_path):
    adapter = random_adapter(creator)
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=9)
    response = maya.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{adapter.pk}",
                                             "drawn_tracks": json.dumps(TWO_TRACKS),
                                             "reference_upload": upload_of(clip)})
    assert response.status_code == 400 and Generation.objects.count() == 0
    assert "You drew motion tracks and also chose a reference video: use one of them." in response.content.decode()


def test_a_clip_s_own_motion_comes_back_as_tracks_to_edit_on_the_canvas(maya, creator, tmp_path):
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=24)
    canvas = {"canvas_width": "128", "canvas_height": "96", "canvas_frames": "25", "canvas_fps": "24"}
    upload = SimpleUploadedFile("cars.mp4", clip.read_bytes(), content_type="video/mp4")
    started = maya.post(reverse("studio_tracks_from_clip"), {"video": upload, **canvas}).content.decode()
    extraction = Extraction.objects.get(method=Extraction.Method.TRACKS, owner=creator)
    assert "Following the points of cars.mp4… 0%" in started and 'hx-trigger="every 1s"' in started
    assert f"/studio/tracks/from-clip/{extraction.pk}/?canvas_width=128&amp;canvas_height=96" in started

    run_extraction(extraction.pk, "test-worker")

    extraction.refresh_from_db()
    stored = tracks_coordinates(extraction)
    assert stored is not None and (stored["width"], stored["height"], stored["frames"]) == (256, 176, 24)
    done = maya.get(reverse("studio_tracks_clip", args=[extraction.pk]), canvas).content.decode()
    assert "hx-trigger" not in done and "from cars.mp4 are on the canvas" in done
    tracks = json.loads(done.split('<script id="clip-tracks-data" type="application/json">')[1].split("</script>")[0])
    assert 2 <= len(tracks) <= 8
    # Every track is something the canvas can send back as it is: it reads and draws without a refusal.
    drawn = DrawnTracks.read({"width": 128, "height": 96, "frames": 25, "tracks": tracks})
    moved = [np.ptp([p.x for p in track]) for track in drawn.tracks]
    assert max(moved) > 10, "the squares slide across the clip"
    # Both squares get tracks (one starts on the left half of the canvas, the other on the right), not only the
    # faster one.
    starts = [track[0].x for track in drawn.tracks]
    assert min(starts) < 64 < max(starts)


def test_another_creator_s_clip_tracks_and_generations_are_not_found(client, creator, other_creator,
                                                                     django_capture_on_commit_callbacks):
    adapter = random_adapter(creator)
    with django_capture_on_commit_callbacks():
        client.force_login(creator)
        client.post(reverse("studio"), {**fields(), "adapter_choice": f"adapter-{adapter.pk}",
                                        "drawn_tracks": json.dumps(TWO_TRACKS)})
    generation = Generation.objects.get()
    tracks = Extraction.objects.create(owner=creator, method=Extraction.Method.TRACKS, settings_key="k",
                                       source="p/cars.mp4", source_name="cars.mp4", source_sha256="0" * 64)
    client.force_login(other_creator)
    assert client.get(reverse("studio_tracks_clip", args=[tracks.pk])).status_code == 404
    assert client.get(reverse("studio") + f"?reuse={generation.pk}").status_code == 404
    response = client.post(reverse("studio_tracks_render"), {**fields(), "adapter_choice": f"adapter-{adapter.pk}",
                                                             "drawn_tracks": json.dumps(TWO_TRACKS)})
    assert response.status_code == 404


def test_a_creator_follows_the_motion_of_one_of_their_dataset_clips_and_nobody_else_s(
    maya, creator, other_creator, tmp_path
):
    dataset = make_dataset(creator, name="Street", recipe="tracks")
    pair = ClipPair(dataset=dataset, name="cars", position=0)
    clip = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=24)
    pair.target_file.save("cars.mp4", ContentFile(clip.read_bytes()), save=True)
    choices = maya.get(reverse("studio_tracks_from_clip")).content.decode()
    assert choices.lstrip().startswith('<div id="tracks-clip-choices"') and "hx-get" not in choices
    assert f'<option value="{pair.pk}">Street · cars</option>' in choices
    assert 'id="tracks-clip-choices" hx-get="/studio/tracks/from-clip/"' in maya.get(reverse("studio")).content.decode()

    canvas = {"canvas_width": "128", "canvas_height": "96", "canvas_frames": "25", "canvas_fps": "24"}
    started = maya.post(reverse("studio_tracks_from_clip"), {"pair": pair.pk, **canvas}).content.decode()
    extraction = Extraction.objects.get(method=Extraction.Method.TRACKS, owner=creator)
    assert "Following the points of cars.mp4" in started
    assert not extraction.owns_source and extraction.source.name == pair.target_file.name  # shared, not copied
    run_extraction(extraction.pk, "test-worker")
    done = maya.get(reverse("studio_tracks_clip", args=[extraction.pk]), canvas).content.decode()
    assert "from cars.mp4 are on the canvas" in done

    stranger = Client()
    stranger.force_login(other_creator)
    assert "Street · cars" not in stranger.get(reverse("studio_tracks_from_clip")).content.decode()
    assert stranger.post(reverse("studio_tracks_from_clip"), {"pair": pair.pk, **canvas}).status_code == 404
