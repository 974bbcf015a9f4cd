"""Mixed clips trained at several shapes: the settings step's shapes, the clips' crop guides, the launch's buckets."""

from __future__ import annotations

import pytest

from tests.wizard.flow import settings_post, start, upload
from training.models import TrainingRun
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed_draft(maya, clips) -> TrainingDraft:
    """A landscape pair (160×128) and a portrait pair (128×160)."""
    draft = start(maya)
    upload(maya, draft, {"walk.mp4": clips("t.mp4"), "walk_ref.mp4": clips.ref(),
                         "tall.mp4": clips("tall.mp4", width=128, height=160),
                         "tall_ref.mp4": clips.ref("tall_ref.mp4", width=128, height=160)})
    return draft


TWO_SHAPES = {"width": 128, "height": 96, "width_2": 96, "height_2": 128}


def findings_of(draft: TrainingDraft, name: str) -> list[str]:
    from wizard.plan import TrainingSettings
    from wizard.review import review_dataset

    draft.refresh_from_db()
    review = review_dataset(draft.dataset, TrainingSettings.from_dict(draft.settings).shapes)
    return [f["text"] for view in review.pairs if view.pair.name == name for f in view.findings]


def test_mixed_clips_get_a_shape_each_and_each_pairs_crop_note_uses_its_own_shape(maya, mixed_draft):
    page = maya.get(f"/wizard/{mixed_draft.pk}/settings/").content.decode()
    assert "Landscape shape · 1 clip" in page and "Portrait shape · 1 clip" in page
    assert 'name="width_2" value="96"' in page and 'name="height_2" value="160"' in page  # tiny preset 160×96, turned
    assert "Remove this shape" in page

    saved = maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES))
    assert saved.status_code == 302
    tall = findings_of(mixed_draft, "tall")
    assert "Trains at 96×128, the shape closest to this clip's 128×160 (0.80:1)." in tall
    assert any(t.startswith("Cropped to 96×128: about 6% of the picture is cut off at the left") for t in tall)
    assert not any("128×96" in t for t in tall)
    assert any(t.startswith("Cropped to 128×96: about 6%") for t in findings_of(mixed_draft, "walk"))


def test_removing_a_shape_crops_its_clips_into_another_and_the_page_says_so(maya, mixed_draft):
    response = maya.post(f"/wizard/{mixed_draft.pk}/settings/",
                         settings_post(mixed_draft, **TWO_SHAPES, action="remove-2"))
    page = response.content.decode()
    assert response.status_code == 200 and 'name="width_2"' not in page and "Remove this shape" not in page
    assert ("No portrait shape: your 1 portrait clip is cropped into 128×96, which cuts off up to 40% of the "
            "picture. Pick the preset again to give it its own shape.") in page
    mixed_draft.refresh_from_db()
    assert mixed_draft.settings["extra_sizes"] == [] and mixed_draft.settings["width"] == 128
    assert any(t.startswith("Cropped to 128×96: about 40% of the picture is cut off at the top and bottom")
               for t in findings_of(mixed_draft, "tall"))

    first_removed = maya.post(f"/wizard/{mixed_draft.pk}/settings/",  # the portrait shape moves up to first place
                              settings_post(mixed_draft, **TWO_SHAPES, action="remove-1"), HTTP_HX_REQUEST="true")
    assert 'name="width" value="96"' in first_removed.content.decode()
    assert "No landscape shape" in first_removed.content.decode()


def test_each_preview_frames_the_part_of_the_clip_training_keeps(maya, mixed_draft):
    maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES, action="remove-2"))

    page = maya.get(f"/wizard/{mixed_draft.pk}/clips/").content.decode()

    # tall: 128×160 (0.8:1) letterboxed in the 16:9 box to 45% of its width; 128×96 keeps 60% of its height.
    [tall] = [article for article in page.split("<article")[1:] if ">tall<" in article]
    assert 'style="left: 27.5%; top: 20.0%; width: 45.0%; height: 60.0%"' in tall
    assert "Dashed frame: the part training keeps at 128×96" in tall
    assert page.count('class="crop-guide"') == 4  # both clips of both pairs (walk loses 6%: still shown)


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"width_2": 100}, "Portrait shape 100×128: Width 100 is not a multiple of 32"),
        ({"reference_downscale_factor": 2, "width": 128, "height": 64, "width_2": 96, "height_2": 128},
         "Portrait shape 96×128: Width 96 is not a multiple of 64"),
        ({"width_2": 128, "height_2": 96}, "The same shape is listed twice"),
        ({"height_2": ""}, "Give this shape both a width and a height, or remove it."),
    ],
)
def test_each_shape_must_follow_the_models_rules(maya, mixed_draft, overrides, says):
    response = maya.post(f"/wizard/{mixed_draft.pk}/settings/",
                         settings_post(mixed_draft, **{**TWO_SHAPES, **overrides}))
    assert response.status_code == 422
    assert says in response.content.decode()


def test_the_launch_lists_the_shapes_with_their_pairs_and_the_run_gets_every_bucket(maya, mixed_draft):
    maya.post(f"/wizard/{mixed_draft.pk}/settings/", settings_post(mixed_draft, **TWO_SHAPES))
    summary = maya.get(f"/wizard/{mixed_draft.pk}/launch/").content.decode()
    assert "Clips used at 2 shapes" in summary
    assert "<li>128×96: 1 pair</li>" in summary and "<li>96×128: 1 pair</li>" in summary
    maya.post(f"/wizard/{mixed_draft.pk}/launch/")
    config = TrainingRun.objects.get().config
    assert config["bucket"] == {"width": 128, "height": 96, "frames": 33, "fps": 24.0}
    assert config["extra_buckets"] == [{"width": 96, "height": 128, "frames": 33, "fps": 24.0}]
