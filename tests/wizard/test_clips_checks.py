"""The clips step and its pairs partial: each pair's checks, shown in plain words, and what blocks a launch."""

import pytest

from datasets.models import ClipPair
from tests.wizard.flow import pairs, start, upload
from training.models import TrainingRun

pytestmark = pytest.mark.django_db


def test_a_pair_with_problems_shows_plain_messages_and_blocks_launch(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"bad.mp4": clips("t.mp4", fps=24), "bad_ref.mp4": clips("r.mp4", fps=30)})
    assert pairs(draft)["bad"].status == ClipPair.Status.ERROR
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Different frame rates" in page and "Must fix" in page
    launch = maya.get(f"/wizard/{draft.pk}/launch/").content.decode()
    assert "Not ready to launch" in launch and "1 pair needs attention" in launch
    maya.post(f"/wizard/{draft.pk}/launch/")
    assert not TrainingRun.objects.exists()


def test_a_pair_that_needs_attention_marks_the_clips_step_on_every_steps_bar(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"good.mp4": clips("t.mp4"), "good_ref.mp4": clips.ref()})
    settings = maya.get(f"/wizard/{draft.pk}/settings/").content.decode()
    assert '<li class="done">' in settings and "needs attention" not in settings  # all well: Clips is done
    upload(maya, draft, {"bad.mp4": clips("t.mp4", fps=24), "bad_ref.mp4": clips("r.mp4", fps=30)})
    for step in ("settings", "launch"):
        page = maya.get(f"/wizard/{draft.pk}/{step}/").content.decode()
        assert '<li class="attention">' in page and "Clips<span class=\"visually-hidden\"> (needs attention)" in page


def test_orphans_on_either_side_are_called_out(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"lonely.mp4": clips("t.mp4"), "ghost_ref.mp4": clips.ref()})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Clips missing their reference" in page and "lonely.mp4" in page
    assert "References missing their clip" in page and "ghost_ref.mp4" in page
    assert not pairs(draft)


def test_a_one_frame_8k_target_is_not_a_good_pair(maya, clips):
    draft = start(maya)
    still = clips("still8k.mp4", width=7680, height=4320, frames=1)
    reference = clips("still8k_ref.mp4", width=7680, height=4320, frames=1, gray=True)
    upload(maya, draft, {"a.mp4": still, "a_ref.mp4": reference})

    pair = pairs(draft)["a"]
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert pair.status == ClipPair.Status.ERROR
    assert {m["code"] for m in pair.messages} >= {"too_few_frames", "too_large"}
    assert "a single frame, a still picture" in page and "7680×4320 is far larger than training uses" in page


def test_the_same_clip_twice_is_flagged_as_a_duplicate(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref(),
                         "b.mp4": clips("t.mp4"), "b_ref.mp4": clips.ref()})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "Same target clip as pair" in page


def test_a_reference_identical_to_its_target_is_an_error(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("t.mp4")})
    page = maya.get(f"/wizard/{draft.pk}/clips/").content.decode()
    assert "the very same file as the target" in page


def test_replacing_a_file_checks_the_pair_again(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips("r.mp4", frames=40)})
    assert pairs(draft)["a"].status == ClipPair.Status.ERROR
    upload(maya, draft, {"a_ref.mp4": clips.ref()})
    assert pairs(draft)["a"].status == ClipPair.Status.OK
    assert draft.dataset.files.count() == 2


def test_the_pairs_partial_is_what_htmx_swaps_in(maya, clips):
    draft = start(maya)
    upload(maya, draft, {"a.mp4": clips("t.mp4"), "a_ref.mp4": clips.ref()})
    body = maya.get(f"/wizard/{draft.pk}/clips/pairs/", HTTP_HX_REQUEST="true").content.decode()
    assert body.lstrip().startswith('<section id="pairs"') and "<html" not in body
    assert "every 2s" not in body  # nothing left to check, so no polling
