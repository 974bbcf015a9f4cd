"""References made on the server in the wizard: lone clips become pairs, extractions fill them, settings redo them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django import forms
from django.test import Client

from datasets.models import ClipPair
from prep.extract.video import clip_format
from prep.models import Extraction
from prep.services import run_extraction
from tests.clips import NO_REAL_MEDIA, REAL_MEDIA
from tests.factories import make_dataset, sent_tasks
from tests.wizard.flow import pairs, start, upload
from wizard.derive import settings_for
from wizard.derive_forms import DeriveSettingsForm
from wizard.models import TrainingDraft
from wizard.review import review_dataset

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("without_depth_or_pose")]


def canny_draft(client: Client, clips, names: tuple[str, ...] = ("walk.mp4",), recipe: str = "canny",
                callbacks: list | None = None) -> TrainingDraft:
    draft = start(client, recipe)
    response = upload(client, draft, {name: clips(name) for name in names})
    assert response.status_code == 302
    return draft


def make_all(draft: TrainingDraft) -> None:
    """What the `cpu` worker does for every extraction the dataset is waiting on."""
    for extraction in Extraction.objects.filter(reference_pairs__dataset=draft.dataset).distinct():
        run_extraction(extraction.pk, "test-worker")


def test_a_lone_clip_of_a_canny_dataset_becomes_a_pair_whose_reference_is_being_made(
    maya, clips, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        draft = canny_draft(maya, clips)
    pair = pairs(draft)["walk"]
    assert pair.reference_is_derived and pair.derive_method == "canny"
    assert pair.extraction is not None and pair.extraction.state == Extraction.State.QUEUED
    assert ("prep.tasks.extract", (pair.extraction.pk,)) in sent_tasks(callbacks)
    review = review_dataset(draft.dataset)
    assert "Some references are still being made." in review.blocking
    assert review.pairing.targets_without_reference == []
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Making the edge map" in page and "Edge maps, made for you" in page.replace("Edge maps", "Edge maps")


def test_the_made_edge_map_becomes_the_reference_and_is_checked_like_an_upload(maya, clips):
    draft = canny_draft(maya, clips)
    make_all(draft)
    pair = pairs(draft)["walk"]
    extraction = pair.extraction
    assert extraction is not None and extraction.state == Extraction.State.DONE
    assert pair.reference_file.name == extraction.output.name  # training reads exactly what was previewed
    assert pair.status == ClipPair.Status.OK, pair.messages
    assert pair.reference_meta["frames"] == pair.target_meta["frames"] == 48
    fmt = clip_format(extraction.output.path)
    assert (fmt.width, fmt.height, fmt.frames) == (160, 128, 48)
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert f"/prep/extractions/{extraction.pk}/video/" in page
    assert maya.get(f"/prep/extractions/{extraction.pk}/video/").status_code == 200
    # The edge map shows a frame before it plays, not a black box.
    assert f'poster="/prep/extractions/{extraction.pk}/video/poster/"' in page
    poster = maya.get(f"/prep/extractions/{extraction.pk}/video/poster/")
    assert poster.status_code == 200 and poster["Content-Type"] == "image/jpeg"


def test_an_uploaded_reference_wins_over_a_made_one(maya, clips):
    draft = start(maya, "canny")
    upload(maya, draft, {"walk.mp4": clips("walk.mp4"), "walk_ref.mp4": clips.ref()})
    pair = pairs(draft)["walk"]
    assert not pair.reference_is_derived and pair.extraction is None
    assert not Extraction.objects.exists()


def test_the_same_clip_with_the_same_settings_reuses_the_finished_extraction(maya, clips):
    draft = canny_draft(maya, clips)
    make_all(draft)
    again = start(maya, "canny")
    upload(maya, again, {"walk.mp4": clips("walk.mp4")})
    pair = pairs(again)["walk"]
    assert Extraction.objects.count() == 1
    assert pair.extraction == pairs(draft)["walk"].extraction


def test_new_settings_make_every_edge_map_again_and_bad_ones_are_refused_plainly(maya, clips):
    draft = canny_draft(maya, clips, ("a.mp4", "b.mp4"))
    make_all(draft)
    before = {p.name: p.extraction_id for p in pairs(draft).values()}
    response = maya.post(f"/wizard/{draft.pk}/derive/canny/", {"low_threshold": 50, "high_threshold": 150,
                                                               "blur": 5, "thickness": 2})
    assert response.status_code == 302
    draft.dataset.refresh_from_db()
    assert draft.dataset.derive_settings["canny"]["low_threshold"] == 50
    after = pairs(draft)
    assert all(after[name].extraction_id != before[name] for name in before)
    assert all(p.status == ClipPair.Status.PENDING and not p.reference_file for p in after.values())
    refused = maya.post(f"/wizard/{draft.pk}/derive/canny/", {"low_threshold": 200, "high_threshold": 100,
                                                              "blur": 3, "thickness": 0})
    assert refused.status_code == 400
    assert "The low edge threshold must be below the high one." in refused.content.decode()
    draft.dataset.refresh_from_db()
    assert draft.dataset.derive_settings["canny"]["low_threshold"] == 50


def test_the_live_preview_shows_a_frame_beside_its_edges(maya, clips):
    draft = canny_draft(maya, clips)
    page = maya.get(f"/wizard/{draft.pk}/derive/canny/preview/", {"low_threshold": 80, "high_threshold": 160,
                                                                   "blur": 3, "thickness": 1}).content.decode()
    assert 'src="data:image/png;base64,' in page and "walk" in page
    crossed = maya.get(f"/wizard/{draft.pk}/derive/canny/preview/", {"low_threshold": 300}).content.decode()
    assert "data:image/png" not in crossed and "The low edge threshold must be below the high one." in crossed
    wild = maya.get(f"/wizard/{draft.pk}/derive/canny/preview/", {"blur": 999}).content.decode()
    assert "data:image/png" not in wild and "between" in wild


def test_a_method_this_server_cannot_run_is_said_plainly_and_blocks_the_pair(maya, clips):
    draft = canny_draft(maya, clips, recipe="depth")
    pair = pairs(draft)["walk"]
    assert pair.status == ClipPair.Status.ERROR
    text = pair.messages[0]["text"]
    assert "This server cannot make depth maps yet" in text and "walk_ref.mp4" in text
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "its operator has not added a depth model" in page
    assert "DEPTH_MODEL_PATH" not in page and "made for you" not in page  # creators never see setting names
    cards = maya.get("/wizard/").content.decode()
    assert "This server cannot make depth maps yet: you upload them with your clips." in cards
    assert "Just your clips: the edge maps are made for you." in cards  # edges are made with OpenCV, always
    assert "Just your clips: the edge maps are made for you." in cards and "depth, edge and pose videos" not in cards
    assert "the edge maps are made for you" in cards.split("Union control")[1]  # Union says only what it can make
    assert not Extraction.objects.exists()


def test_union_takes_turns_among_the_kinds_this_server_can_make(maya, clips):
    draft = canny_draft(maya, clips, ("a.mp4", "b.mp4", "c.mp4"), recipe="union")
    assert {p.derive_method for p in pairs(draft).values()} == {"canny"}
    pair = pairs(draft)["b"]
    maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/rederive/", {"method": "pose"})
    pair.refresh_from_db()
    assert pair.status == ClipPair.Status.ERROR and "cannot make pose skeletons yet" in pair.messages[0]["text"]


def test_a_failed_extraction_is_a_plain_error_on_its_pair_and_can_be_tried_again(maya, clips):
    draft = canny_draft(maya, clips)
    pair = pairs(draft)["walk"]
    extraction = pair.extraction
    assert extraction is not None
    Path(extraction.source.path).write_bytes(b"not a video any more")
    run_extraction(extraction.pk, "test-worker")
    pair.refresh_from_db()
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.FAILED and extraction.error_message
    assert pair.status == ClipPair.Status.ERROR
    assert pair.messages[0]["text"].startswith("The edge map could not be made:")
    maya.post(f"/wizard/{draft.pk}/derive/canny/", {"low_threshold": 100, "high_threshold": 200, "blur": 3,
                                                    "thickness": 0})
    pair.refresh_from_db()
    assert pair.extraction_id == extraction.pk, "an unchanged failure is not retried on every save"
    maya.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/rederive/")
    pair.refresh_from_db()
    assert pair.extraction_id != extraction.pk and pair.status == ClipPair.Status.PENDING


def test_changing_the_recipe_away_from_a_made_reference_leaves_the_clip_without_a_partner(maya, clips):
    draft = canny_draft(maya, clips)
    maya.post(f"/wizard/{draft.pk}/recipe/", {"recipe": "restoration"})
    assert pairs(draft) == {}
    assert review_dataset(draft.dataset).pairing.targets_without_reference == ["walk.mp4"]


def test_another_creator_cannot_see_or_remake_the_references(maya, clips, other_creator):
    draft = canny_draft(maya, clips)
    make_all(draft)
    pair = pairs(draft)["walk"]
    stranger = Client()
    stranger.force_login(other_creator)
    assert pair.extraction is not None
    assert stranger.get(f"/prep/extractions/{pair.extraction.pk}/video/").status_code == 404
    assert stranger.get(f"/prep/extractions/{pair.extraction.pk}/").status_code == 404
    assert stranger.post(f"/wizard/{draft.pk}/pairs/{pair.pk}/rederive/").status_code == 404
    assert stranger.post(f"/wizard/{draft.pk}/derive/canny/", {"low_threshold": 1}).status_code == 404
    assert stranger.get(f"/wizard/{draft.pk}/derive/canny/preview/").status_code == 404


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from prep.extract.tiny_models import build_tiny_captioner, build_tiny_depth_model

    folder = tmp_path_factory.mktemp("tiny-prep-models")
    return {"depth": build_tiny_depth_model(folder / "depth"), "caption": build_tiny_captioner(folder / "caption")}


def test_with_a_depth_model_configured_depth_maps_are_made_and_checked(maya, clips, settings, tiny_models):
    settings.DEPTH_MODEL_PATH = str(tiny_models["depth"])
    draft = canny_draft(maya, clips, recipe="depth")
    make_all(draft)
    pair = pairs(draft)["walk"]
    assert pair.derive_method == "depth" and pair.status == ClipPair.Status.OK, pair.messages
    assert pair.reference_meta["frames"] == pair.target_meta["frames"]


def test_the_captioner_writes_captions_the_creator_then_owns(maya, clips, settings, tiny_models,
                                                            django_capture_on_commit_callbacks):
    draft = start(maya, "restoration")
    settings.CAPTION_MODEL_PATH = str(tiny_models["caption"])
    empty = maya.post(f"/wizard/{draft.pk}/captions/auto/", follow=True).content.decode()
    assert "Upload your clips first" in empty and not Extraction.objects.exists()
    upload(maya, draft, {"a.mp4": clips("a.mp4"), "a_ref.mp4": clips.ref(), "b.mp4": clips("b.mp4"),
                         "b_ref.mp4": clips.ref("b_ref.mp4")})
    typed = pairs(draft)["b"]
    maya.post(f"/wizard/{draft.pk}/pairs/{typed.pk}/caption/", {"caption": "my own words"})
    settings.CAPTION_MODEL_PATH = None
    refused = maya.post(f"/wizard/{draft.pk}/captions/auto/", follow=True).content.decode()
    assert "This server cannot write captions yet" in refused and "CAPTION_MODEL_PATH" not in refused
    assert not Extraction.objects.exists()
    settings.CAPTION_MODEL_PATH = str(tiny_models["caption"])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        maya.post(f"/wizard/{draft.pk}/captions/auto/")
    assert [name for name, _ in sent_tasks(callbacks)] == ["prep.tasks.extract"]
    extraction = Extraction.objects.get(method="caption")
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "The captioner is writing a caption" in page
    run_extraction(extraction.pk, "test-worker")
    extraction.refresh_from_db()
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    written, kept = pairs(draft)["a"], pairs(draft)["b"]
    assert written.caption == extraction.caption and written.caption and written.caption_auto
    assert kept.caption == "my own words" and kept.caption_extraction is None
    assert "Written by the captioner" in maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    maya.post(f"/wizard/{draft.pk}/pairs/{written.pk}/caption/", {"caption": "a sunny street, handheld"})
    written.refresh_from_db()
    assert written.caption_typed and not written.caption_auto


@pytest.mark.skipif(not REAL_MEDIA.exists(), reason=NO_REAL_MEDIA)
def test_pose_skeletons_are_made_from_a_real_clip_of_a_person(maya, settings):
    settings.POSE_PYTHON = Path(settings.BASE_DIR) / ".venv-pose" / "bin" / "python"
    draft = start(maya, "pose")
    upload(maya, draft, {"carphone.mp4": REAL_MEDIA / "carphone_pristine.mp4"})
    make_all(draft)
    pair = pairs(draft)["carphone"]
    extraction = pair.extraction
    assert extraction is not None
    assert extraction.state == Extraction.State.DONE, extraction.error_message
    assert pair.status in (ClipPair.Status.OK, ClipPair.Status.WARNING), pair.messages
    assert pair.reference_meta["frames"] == pair.target_meta["frames"]
    assert extraction.report["empty_frames"] < pair.target_meta["frames"] // 5


@pytest.mark.parametrize(("method", "stored", "whole", "number"), [
    ("canny", {"blur": 5}, ["low_threshold", "high_threshold", "blur", "thickness"], []),
    ("pose", {"max_gap": 12}, ["max_gap", "line_width"], ["min_visibility", "min_confidence"]),
    ("depth", {"batch_size": 4}, ["batch_size"], ["smoothing", "near_percentile", "far_percentile"]),
])
def test_the_settings_form_has_a_field_per_setting_showing_the_stored_values(creator, method, stored, whole, number):
    dataset = make_dataset(creator, recipe=method, derive_settings={method: stored})
    form = DeriveSettingsForm(dataset, method)
    assert sorted(form.fields) == sorted(whole + number)
    assert all(type(form.fields[name]) is forms.IntegerField for name in whole)
    assert all(type(form.fields[name]) is forms.FloatField for name in number)
    assert {name: form.fields[name].initial for name in form.fields} == settings_for(dataset, method)
    assert all(form.fields[name].initial == value for name, value in stored.items())


def test_the_settings_form_stores_typed_values_and_refuses_out_of_range_ones_in_plain_words(creator):
    dataset = make_dataset(creator, recipe="depth")
    saved = DeriveSettingsForm(dataset, "depth", {"smoothing": "2.5", "batch_size": "16"}).save()
    assert saved == {"smoothing": 2.5, "batch_size": 16, "near_percentile": 98.0, "far_percentile": 2.0}
    refused = DeriveSettingsForm(dataset, "depth", {"far_percentile": "60"})
    assert refused.save() is None
    assert refused.non_field_errors() == ["The far percentile must be between 0 and 50 (it is 60)."]
    dataset.refresh_from_db()
    assert dataset.derive_settings["depth"] == saved
