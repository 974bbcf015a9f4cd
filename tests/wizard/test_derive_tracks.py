"""The Motion tracks recipe: its help, track videos made from uploaded clips, their settings and live preview."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from django import forms
from django.test import Client

from datasets.models import ClipPair
from prep.models import Extraction
from prep.tasks import extract
from tests.factories import make_dataset, sent_tasks
from tests.prep.conftest import SLIDING_SQUARES, MovingSquare, write_moving_squares
from tests.wizard.flow import pairs, start, upload
from wizard.derive import settings_for
from wizard.derive_forms import DeriveSettingsForm
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def squares(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two textured squares sliding across a still textured background: 48 frames at 24 fps, 256×176."""
    return write_moving_squares(tmp_path_factory.mktemp("tracks") / "squares.mp4", SLIDING_SQUARES, frames=48)


@pytest.fixture(scope="module")
def still(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same scene where nothing moves."""
    resting = [MovingSquare(square.start, (0.0, 0.0)) for square in SLIDING_SQUARES]
    return write_moving_squares(tmp_path_factory.mktemp("still") / "still.mp4", resting, frames=48)


def tracks_draft(client: Client, clip: Path, name: str = "cars.mp4") -> TrainingDraft:
    draft = start(client, "tracks")
    assert upload(client, draft, {name: clip}).status_code == 302
    return draft


def preview(client: Client, draft: TrainingDraft, **values: int) -> str:
    response = client.get(f"/wizard/{draft.pk}/derive/tracks/preview/", values)
    assert response.status_code == 200
    return response.content.decode()


def preview_image(page: str) -> np.ndarray:
    found = re.search(r'src="data:image/png;base64,([^"]+)"', page)
    assert found, page
    image = cv2.imdecode(np.frombuffer(base64.b64decode(found.group(1)), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_the_motion_tracks_page_says_what_a_track_is_how_many_and_what_motion_trains_well(maya):
    page = maya.get("/wizard/recipes/tracks/").content.decode()
    assert "<h1>Motion tracks control</h1>" in page
    assert "A track is one point on something in the clip" in page
    assert "About 20 to 80 tracks per clip" in page
    assert "Clear, steady motion of distinct things" in page and "Camera moves teach too" in page
    assert "Leave out still shots" in page and "shaky handheld footage" in page
    assert "the server makes the motion-track videos for you" in page
    cards = maya.get("/wizard/").content.decode()
    assert "Just your clips: the motion-track videos are made for you." in cards.split("Motion tracks control")[1]


def test_a_clip_uploaded_to_motion_tracks_gets_its_track_video_made_on_the_cpu_queue_and_checked(
        maya, squares, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        draft = tracks_draft(maya, squares)
    pair = pairs(draft)["cars"]
    extraction = pair.extraction
    assert pair.reference_is_derived and pair.derive_method == "tracks"
    assert extraction is not None and extraction.state == Extraction.State.QUEUED
    assert extraction.settings == {"tracks": 48, "min_motion": 10.0, "trail_length": 50, "circle_size": 8.0}
    assert ("prep.tasks.extract", (extraction.pk,)) in sent_tasks(callbacks)
    sent = [c for c in callbacks if tuple(getattr(c, "keywords", {}).get("args", ())) == (extraction.pk,)]
    assert [c.keywords["queue"] for c in sent] == ["cpu"]
    assert "Making the motion tracks" in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()

    extract.apply(args=(extraction.pk,))  # the task body, as the cpu worker runs it

    pair.refresh_from_db()
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    assert pair.reference_file.name == extraction.output.name  # training reads exactly what was previewed
    assert pair.status == ClipPair.Status.OK, pair.messages
    assert pair.reference_meta["frames"] == pair.target_meta["frames"] == 48
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    # The tracks play over their clip, and the tracks alone are a click away.
    assert "data-tracks-over-clip" in page and 'aria-label="Motion tracks of cars, drawn over the clip"' in page
    assert f'src="/prep/extractions/{extraction.pk}/video/"' in page and "Watch the tracks alone" in page
    assert "js/tracks-over-clip.js" in page
    assert maya.get(f"/prep/extractions/{extraction.pk}/video/").status_code == 200


def test_a_clip_where_nothing_moves_says_why_on_its_pair(maya, still):
    draft = tracks_draft(maya, still, "garden.mp4")
    pair = pairs(draft)["garden"]
    assert pair.extraction is not None
    extract.apply(args=(pair.extraction.pk,))
    pair.refresh_from_db()
    assert pair.status == ClipPair.Status.ERROR
    assert pair.messages[0]["text"].startswith("The motion-track video could not be made: Nothing in garden.mp4 "
                                               "moves more than the minimum motion")


def test_the_settings_form_has_the_four_track_settings_in_a_creators_words(creator):
    dataset = make_dataset(creator, recipe="tracks", derive_settings={"tracks": {"trail_length": 30}})
    form = DeriveSettingsForm(dataset, "tracks")
    assert {name: field.label for name, field in form.fields.items()} == {
        "tracks": "Number of tracks", "min_motion": "Minimum motion", "trail_length": "Trail length (frames)",
        "circle_size": "Circle size"}
    assert [type(form.fields[n]) for n in ("tracks", "trail_length")] == [forms.IntegerField] * 2
    assert [type(form.fields[n]) for n in ("min_motion", "circle_size")] == [forms.FloatField] * 2
    assert {name: field.initial for name, field in form.fields.items()} == settings_for(dataset, "tracks")
    assert form.fields["trail_length"].initial == 30


@pytest.mark.parametrize(("given", "refusal"), [
    ({"tracks": "0"}, "The number of tracks must be between 1 and 400 (it is 0)."),
    ({"min_motion": "-3"}, "The minimum motion must be between 0 and 1000 (it is -3)."),
    ({"trail_length": "500"}, "The trail length must be between 1 and 200 (it is 500)."),
    ({"circle_size": "40"}, "The circle size must be between 1 and 32 (it is 40)."),
], ids=["tracks", "min_motion", "trail_length", "circle_size"])
def test_the_settings_form_refuses_values_out_of_range_in_plain_words_and_stores_nothing(creator, given, refusal):
    dataset = make_dataset(creator, recipe="tracks")
    form = DeriveSettingsForm(dataset, "tracks", given)
    assert form.save() is None
    assert form.non_field_errors() == [refusal]
    dataset.refresh_from_db()
    assert "tracks" not in dataset.derive_settings


def test_the_settings_form_refuses_words_where_a_number_goes(creator):
    dataset = make_dataset(creator, recipe="tracks")
    form = DeriveSettingsForm(dataset, "tracks", {"tracks": "lots", "circle_size": "8.5"})
    assert form.save() is None
    assert form.errors["tracks"] == ["Enter a whole number."]
    assert "circle_size" not in form.errors


def test_saved_settings_make_every_track_video_again_and_bad_ones_are_refused_on_the_page(maya, squares):
    draft = tracks_draft(maya, squares)
    before = pairs(draft)["cars"].extraction_id
    response = maya.post(f"/wizard/{draft.pk}/derive/tracks/", {"tracks": 20, "min_motion": 4, "trail_length": 30,
                                                                "circle_size": 6})
    assert response.status_code == 302
    draft.dataset.refresh_from_db()
    assert draft.dataset.derive_settings["tracks"] == {"tracks": 20, "min_motion": 4.0, "trail_length": 30,
                                                       "circle_size": 6.0}
    pair = pairs(draft)["cars"]
    assert pair.extraction_id != before and pair.extraction is not None
    assert pair.extraction.settings == draft.dataset.derive_settings["tracks"]
    refused = maya.post(f"/wizard/{draft.pk}/derive/tracks/", {"tracks": 20, "min_motion": 4, "trail_length": 0,
                                                               "circle_size": 6})
    assert refused.status_code == 400
    assert "The trail length must be between 1 and 200 (it is 0)." in refused.content.decode()
    draft.dataset.refresh_from_db()
    assert draft.dataset.derive_settings["tracks"]["trail_length"] == 30


def test_the_live_preview_is_a_frame_of_the_clip_with_its_tracks_and_follows_the_settings(maya, squares):
    draft = tracks_draft(maya, squares)
    page = preview(maya, draft, tracks=12, min_motion=10, trail_length=10, circle_size=8)
    assert "cars" in page and "the tracks over the clip, and on black as the adapter sees them" in page
    short = preview_image(page)
    assert short.shape == (176, 256 + 8 + 256, 3)  # the clip with its tracks, beside the tracks alone
    alone = short[:, 264:]
    assert 0 < alone.any(axis=2).sum() < alone.size // 12
    longer = preview_image(preview(maya, draft, tracks=12, min_motion=10, trail_length=40, circle_size=8))
    assert longer[:, 264:].any(axis=2).sum() > alone.any(axis=2).sum()  # longer trails cover more of the frame


def test_the_live_preview_says_plainly_what_is_wrong_instead_of_a_picture(maya, squares, still):
    draft = start(maya, "tracks")
    waiting = preview(maya, draft)
    assert "Upload a clip to see a preview." in waiting and "data:image/png" not in waiting
    upload(maya, draft, {"cars.mp4": squares})
    wild = preview(maya, draft, circle_size=99)
    assert "The circle size must be between 1 and 32 (it is 99)." in wild and "data:image/png" not in wild
    quiet = preview(maya, draft, min_motion=900)
    assert "Nothing in cars.mp4 moves more than the minimum motion" in quiet and "data:image/png" not in quiet


def test_another_creator_cannot_see_change_or_preview_the_track_videos(maya, squares, other_creator):
    draft = tracks_draft(maya, squares)
    pair = pairs(draft)["cars"]
    assert pair.extraction is not None
    stranger = Client()
    stranger.force_login(other_creator)
    assert stranger.get(f"/wizard/{draft.pk}/clips/").status_code == 404
    assert stranger.get(f"/wizard/{draft.pk}/derive/tracks/preview/", {"tracks": 5}).status_code == 404
    assert stranger.post(f"/wizard/{draft.pk}/derive/tracks/", {"tracks": 5}).status_code == 404
    assert stranger.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/rederive/").status_code == 404
    assert stranger.get(f"/prep/extractions/{pair.extraction.pk}/video/").status_code == 404
    draft.dataset.refresh_from_db()
    assert "tracks" not in draft.dataset.derive_settings


def test_a_recipe_without_motion_tracks_has_no_tracks_settings_or_preview(maya, squares):
    draft = start(maya, "canny")
    upload(maya, draft, {"cars.mp4": squares})
    assert maya.get(f"/wizard/{draft.pk}/derive/tracks/preview/").status_code == 404
    assert maya.post(f"/wizard/{draft.pk}/derive/tracks/", {"tracks": 5}).status_code == 404
