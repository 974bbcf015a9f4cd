"""Studio control videos: any clip becomes a depth/edge/pose reference, owned by its creator, usable in the Studio."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from django.test import Client

from prep.extract.tracks import TrackSettings, extract_tracks
from prep.extract.video import clip_format, read_frames
from prep.models import Extraction
from prep.services import run_extraction
from studio.models import Adapter, Generation
from tests.clips import make_clip
from tests.prep.conftest import SLIDING_SQUARES, write_moving_squares

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_depth_or_pose")]


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return make_clip(tmp_path_factory.mktemp("controls") / "street.mp4", frames=25, width=192, height=128).read_bytes()


def upload(data: bytes, name: str = "street.mp4") -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def make_edges(client: Client, clip: bytes) -> Extraction:
    response = client.post("/studio/controls/", {"method": "canny", "video": upload(clip)})
    extraction = Extraction.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/studio/controls/{extraction.pk}/"
    return extraction


def test_an_uploaded_clip_becomes_an_edge_video_of_the_same_shape(maya, clip):
    extraction = make_edges(maya, clip)
    assert extraction.owns_source and extraction.source_name == "street.mp4"
    waiting = maya.get(f"/studio/controls/{extraction.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert 'hx-trigger="every 1s"' in waiting
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE
    fmt = clip_format(extraction.output.path)
    assert (fmt.width, fmt.height, fmt.frames) == (192, 128, 25)
    page = maya.get(f"/studio/controls/{extraction.pk}/").content.decode()
    assert "Use it as the reference in the Studio" in page and "every 1s" not in page
    assert maya.get(f"/prep/extractions/{extraction.pk}/source/").status_code == 200


def test_the_made_control_video_is_offered_and_used_as_the_studio_reference(maya, clip, creator):
    from studio.models import Adapter, Generation

    extraction = make_edges(maya, clip)
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    page = maya.get(f"/studio/?control={extraction.pk}").content.decode()
    assert re.search(rf'<option value="{extraction.pk}" [^>]* selected>Edge map of street.mp4</option>', page)
    adapter = Adapter.objects.create(owner=creator, name="edges", source=Adapter.Source.UPLOADED, file="x.safetensors")
    response = maya.post("/studio/", {"adapter_choice": f"adapter-{adapter.pk}", "reference_control": extraction.pk,
                                      "prompt": "a neon city", "num_frames": 25, "width": 192, "height": 128,
                                      "mask_preset": "whole"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Generation.objects.get().reference_file.name == extraction.output.name


def test_a_file_that_is_not_a_video_is_refused_plainly_and_nothing_is_kept(maya):
    response = maya.post("/studio/controls/", {"method": "canny", "video": upload(b"hello there", "notes.mp4")})
    assert response.status_code == 400
    assert "This file is not a video" in response.content.decode()
    assert not Extraction.objects.exists()


def test_a_kind_this_server_cannot_make_is_refused_with_the_reason(maya, clip):
    response = maya.post("/studio/controls/", {"method": "depth", "video": upload(clip)})
    page = response.content.decode()
    assert response.status_code == 400 and "This server cannot make depth maps yet" in page
    assert "DEPTH_MODEL_PATH" not in page  # the operator console names the setting, not the creator's page
    page = maya.get("/studio/controls/").content.decode()
    assert 'value="depth" disabled' in page
    assert not Extraction.objects.exists()


def test_another_creator_can_neither_see_nor_use_the_control_video(maya, clip, other_creator):
    extraction = make_edges(maya, clip)
    run_extraction(extraction.pk, "test-worker")
    stranger = Client()
    stranger.force_login(other_creator)
    assert stranger.get(f"/studio/controls/{extraction.pk}/").status_code == 404
    assert stranger.get(f"/prep/extractions/{extraction.pk}/video/").status_code == 404
    assert stranger.get(f"/prep/extractions/{extraction.pk}/source/").status_code == 404
    assert "street.mp4" not in stranger.get("/studio/controls/").content.decode()
    assert stranger.post("/studio/", {"reference_control": extraction.pk, "prompt": "x"}).status_code in (400, 404)


def test_making_a_control_video_from_the_studio_comes_back_with_the_same_adapter_and_its_frame_rate(
    maya, clip, creator
):
    from studio.models import Adapter, Generation

    adapter = Adapter.objects.create(owner=creator, name="edges at 30", source=Adapter.Source.UPLOADED,
                                     file="x.safetensors", metadata={"bucket": "192x128x25@30"})
    choice = f"adapter-{adapter.pk}"
    studio = maya.get(f"/studio/?adapter={adapter.pk}").content.decode()
    assert f'href="/studio/controls/?for={choice}"' in studio  # the detour carries the choice
    response = maya.post("/studio/controls/", {"method": "canny", "video": upload(clip), "for": choice})
    extraction = Extraction.objects.get()
    assert response["Location"] == f"/studio/controls/{extraction.pk}/?for={choice}"
    run_extraction(extraction.pk, "test-worker")
    page = maya.get(response["Location"]).content.decode()
    back = f"/studio/?control={extraction.pk}&amp;choice={choice}"
    assert f'href="{back}"' in page
    studio = maya.get(back.replace("&amp;", "&")).content.decode()
    assert f'<option value="{choice}" data-trigger="" selected ' in studio  # the adapter is still chosen
    assert 'name="frame_rate" type="number" min="1" max="60" step="any" value="30"' in studio  # its own fps
    response = maya.post("/studio/", {"adapter_choice": choice, "reference_control": extraction.pk,
                                      "prompt": "a neon city", "num_frames": 25, "width": 192, "height": 128,
                                      "frame_rate": 30, "mask_preset": "whole"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Generation.objects.get().settings["reference_name"] == "Edge map of street.mp4"  # not the stored name


def test_a_studio_choice_that_is_not_an_adapter_reference_is_not_carried(maya):
    page = maya.get('/studio/controls/?for="><script>').content.decode()
    assert 'name="for"' not in page and "<script>\"" not in page


def test_the_clip_and_its_control_video_have_posters_their_creator_sees_and_nobody_else(maya, clip, other_creator):
    extraction = make_edges(maya, clip)
    run_extraction(extraction.pk, "test-worker")
    posters = set()
    for url in (f"/studio/controls/{extraction.pk}/", "/studio/controls/"):
        videos = re.findall(r"<video [^>]*>", maya.get(url).content.decode())
        assert videos and all('poster="' in video for video in videos), url
        posters |= {re.search(r'poster="([^"]+)"', video).group(1) for video in videos}  # type: ignore[union-attr]
    assert posters == {f"/prep/extractions/{extraction.pk}/video/poster/",
                       f"/prep/extractions/{extraction.pk}/source/poster/"}
    for url in posters:
        response = maya.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg", url
        assert b"".join(response.streaming_content)[:3] == b"\xff\xd8\xff"
    stranger = Client()
    stranger.force_login(other_creator)
    for url in posters:
        assert stranger.get(url).status_code == 404, url


def test_a_clip_s_motion_tracks_become_the_reference_of_a_motion_track_adapter_made_as_the_wizard_makes_them(
    maya, creator, tmp_path
):
    cars = write_moving_squares(tmp_path / "cars.mp4", SLIDING_SQUARES, frames=25)
    adapter = Adapter.objects.create(owner=creator, name="tracks", source=Adapter.Source.UPLOADED,
                                     file="x.safetensors", metadata={"bucket": "256x176x25@24"})
    choice = f"adapter-{adapter.pk}"
    assert 'value="tracks"' in maya.get(f"/studio/controls/?for={choice}").content.decode()
    response = maya.post("/studio/controls/", {"method": "tracks", "video": upload(cars.read_bytes(), "cars.mp4"),
                                               "for": choice})
    extraction = Extraction.objects.get()
    assert response["Location"] == f"/studio/controls/{extraction.pk}/?for={choice}"
    # The page polls for its progress and keeps the adapter while it does: the link back appears in a poll's answer.
    waiting = maya.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert f'hx-get="/studio/controls/{extraction.pk}/?for={choice}"' in waiting
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    polled = maya.get(response["Location"], HTTP_HX_REQUEST="true").content.decode()
    assert f'href="/studio/?control={extraction.pk}&amp;choice={choice}"' in polled
    # The wizard's derivation of the same clip with its default settings, frame for frame.
    wizard = extract_tracks(cars, tmp_path / "wizard.mp4", TrackSettings())
    made, expected = Path(extraction.output.path), tmp_path / "wizard.mp4"
    assert wizard.frames == 25
    assert all((a == b).all() for a, b in zip(read_frames(made, clip_format(made)),
                                               read_frames(expected, clip_format(expected)), strict=True))

    page = maya.get(f"/studio/controls/{extraction.pk}/?for={choice}").content.decode()
    assert "Motion tracks of cars.mp4" in page
    assert f'href="/studio/?control={extraction.pk}&amp;choice={choice}"' in page
    studio = maya.get(f"/studio/?control={extraction.pk}&choice={choice}").content.decode()
    assert re.search(rf'<option value="{extraction.pk}" [^>]* selected>Motion tracks of cars.mp4</option>', studio)
    assert f'<option value="{choice}" data-trigger="" selected ' in studio
    response = maya.post("/studio/", {"adapter_choice": choice, "reference_control": extraction.pk,
                                      "prompt": "two red cars", "num_frames": 25, "width": 256, "height": 160,
                                      "mask_preset": "whole"})
    assert response.status_code == 302, response.content.decode()[:2000]
    generation = Generation.objects.get()
    assert generation.reference_file.name == extraction.output.name
    assert generation.settings["reference_name"] == "Motion tracks of cars.mp4"

    # Following the same clip's motion on the canvas reuses the tracks already made: nothing is made twice.
    maya.post("/studio/tracks/from-clip/", {"video": upload(cars.read_bytes(), "cars.mp4")})
    assert Extraction.objects.count() == 1
