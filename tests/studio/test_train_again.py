"""An ended run's creator trains its clips and settings again on another base model the server offers: an adapter only
works with the base it was trained on."""

from __future__ import annotations

from html import unescape
from unittest.mock import patch

import pytest
from django.urls import reverse

from datasets.models import ClipPair
from engine.bases import BASES, LTX25
from studio.models import Adapter
from tests.factories import make_dataset, make_ready_dataset, make_run, sent_tasks, tiny_run_config
from tests.helpers import wait_for
from training.models import RunEvent, TrainingRun
from training.runs import launch_run, train_again_on


@pytest.fixture
def two_bases(settings):
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")


def test_the_creator_of_an_ended_run_trains_it_again_on_the_other_base(
    maya, creator, two_bases, django_capture_on_commit_callbacks
):
    source = make_run(creator, name="Street restore", state=TrainingRun.State.SUCCEEDED,
                      config=tiny_run_config(steps=12))
    page = maya.get(reverse("run_detail", args=[source.pk])).content.decode()
    offer = page.split('id="train-again"')[1].split("</div>")[0]
    assert "Trained on LTX-2.3: its adapters only work with LTX-2.3." in offer
    assert "Train again on LTX-2.5" in offer and "Train again on LTX-2.3" not in offer
    confirm = reverse("run_train_again", args=[source.pk])
    assert f'href="{confirm}?base=ltx-2.5"' in offer  # a link to the confirmation page, not a launch

    page = unescape(maya.get(confirm, {"base": "ltx-2.5"}).content.decode())
    assert "Train “Street restore” again on LTX-2.5" in page
    assert "LTX-2.3 → LTX-2.5" in page and "Clips stay 128×96, 9 frames: LTX-2.5 uses the same sizes." in page
    assert "Captions will be read by LTX-2.5's own text encoder" in page
    assert ("Depth control: On LTX-2.5 this recipe trains with the same settings as on LTX-2.3, and the depth maps "
            "made here serve both") in page  # the recipe's own note on the new base
    assert '<button type="submit">Train on LTX-2.5</button>' in page
    assert TrainingRun.objects.count() == 1  # looking launches nothing

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = maya.post(reverse("run_train_again", args=[source.pk]), {"base": "ltx-2.5"})
    again = TrainingRun.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[again.pk])
    assert (again.base, again.name, again.state) == ("ltx-2.5", "Street restore (LTX-2.5)", TrainingRun.State.QUEUED)
    assert (again.dataset, again.recipe, again.config, again.total_steps) == (source.dataset, source.recipe,
                                                                              source.config, 12)
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (again.pk,))]
    first = again.events.filter(kind=RunEvent.Kind.LOG).order_by("seq").first()
    assert first is not None and first.payload["message"].startswith(
        "Trains “Street restore” again on LTX-2.5, with the same clips. Clips stay 128×96, 9 frames: LTX-2.5 uses the "
        "same sizes.")
    assert first.payload["changes"][-1].startswith("Captions will be read by LTX-2.5's own text encoder")


def test_train_again_is_offered_only_with_another_base_once_the_run_has_ended_and_only_to_its_creator(
    client, maya, creator, other_creator, settings
):
    ended = make_run(creator, state=TrainingRun.State.FAILED)
    assert 'id="train-again"' not in maya.get(reverse("run_detail", args=[ended.pk])).content.decode()  # one base

    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    going = make_run(creator, state=TrainingRun.State.TRAINING)
    assert 'id="train-again"' not in maya.get(reverse("run_detail", args=[going.pk])).content.decode()
    maya.post(reverse("run_train_again", args=[going.pk]), {"base": "ltx-2.5"})
    refused = maya.get(reverse("run_detail", args=[going.pk])).content.decode()
    assert "Wait until this run has ended, or cancel it, before training it again." in refused
    maya.post(reverse("run_train_again", args=[ended.pk]), {"base": "ltx-3"})
    assert "ltx-3 is not offered on this server." in maya.get(reverse("run_detail", args=[ended.pk])).content.decode()

    client.force_login(other_creator)
    assert client.post(reverse("run_train_again", args=[ended.pk]), {"base": "ltx-2.5"}).status_code == 404
    assert TrainingRun.objects.count() == 2


def test_the_confirmation_shows_the_clips_and_what_changes_and_launches_only_on_the_button(
    maya, creator, two_bases, settings
):
    dataset = make_dataset(creator, name="Street clips")
    for index in range(3):
        ClipPair.objects.create(dataset=dataset, name=f"clip{index}", status=ClipPair.Status.OK,
                                target_file=f"t{index}.mp4", reference_file=f"r{index}.mp4")
    source = make_run(creator, dataset=dataset, name="Street restore", state=TrainingRun.State.CANCELLED,
                      config=tiny_run_config(steps=12))
    # A base with other rules than LTX-2.3's, as a later LTX-2.5 could have: the page shows what the translation did.
    wider = LTX25.model_copy(update={"shapes": LTX25.shapes.model_copy(update={"spatial_compression": 64})})
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    with patch.dict(BASES, {"ltx-2.5": wider}):
        page = unescape(maya.get(reverse("run_train_again", args=[source.pk])).content.decode())  # no ?base=
    assert "3 pairs from “Street clips”, with their captions and references" in page
    assert ("Clips change from 128×96, 9 frames to 128×128, 9 frames: LTX-2.5 works in blocks of 64 pixels (LTX-2.3 "
            "in blocks of 32).") in page
    assert "need attention" not in page

    ClipPair.objects.filter(name="clip0").update(status=ClipPair.Status.ERROR)
    page = unescape(maya.get(reverse("run_train_again", args=[source.pk]), {"base": "ltx-2.5"}).content.decode())
    assert "1 of these pairs needs attention: the training stops at the start until it is fixed or removed." in page
    assert TrainingRun.objects.count() == 1


def test_a_run_still_going_is_refused_in_plain_words_and_another_creator_gets_not_found(
    client, maya, creator, other_creator, two_bases
):
    going = make_run(creator, state=TrainingRun.State.QUEUED)
    response = maya.get(reverse("run_train_again", args=[going.pk]), {"base": "ltx-2.5"})
    page = response.content.decode()
    assert response.status_code == 409
    assert "Wait until this run has ended, or cancel it, before training it again." in page
    assert "Train on LTX-2.5" not in page
    ended = make_run(creator, state=TrainingRun.State.SUCCEEDED)
    same = maya.get(reverse("run_train_again", args=[ended.pk]), {"base": "ltx-2.3"}).content.decode()
    assert "This run already trains on LTX-2.3." in same

    client.force_login(other_creator)
    assert client.get(reverse("run_train_again", args=[ended.pk]), {"base": "ltx-2.5"}).status_code == 404
    assert TrainingRun.objects.count() == 2


def _ended(run: TrainingRun) -> bool:
    run.refresh_from_db()
    return run.state in TrainingRun.FINAL_STATES


@pytest.mark.timeout(480)
def test_a_run_finished_on_the_tiny_ltx_2_5_trains_again_on_the_tiny_ltx_2_3_through_the_real_worker(
    transactional_db, celery_worker, creator, settings, tmp_path
):
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    dataset = make_ready_dataset(creator, tmp_path / "clips", count=2)
    source = make_run(creator, dataset=dataset, name="Street restore", base="ltx-2.5",
                      config=tiny_run_config(steps=4, checkpoint_every=4))
    launch_run(source)
    wait_for(lambda: _ended(source), timeout=220)
    assert source.state == TrainingRun.State.SUCCEEDED, (source.state_reason, celery_worker.log_tail())

    again = train_again_on(source, "ltx-2.3")
    wait_for(lambda: _ended(again), timeout=220)
    assert again.state == TrainingRun.State.SUCCEEDED, (again.state_reason, celery_worker.log_tail())
    assert (again.base, again.step, again.config) == ("ltx-2.3", 4, source.config)
    assert [adapter.base for adapter in Adapter.objects.order_by("pk")] == ["ltx-2.5", "ltx-2.3"]
    first = again.events.filter(kind=RunEvent.Kind.LOG).order_by("seq").first()
    assert first is not None and first.payload["changes"][-1].startswith(
        "Captions will be read by LTX-2.3's own text encoder (Google's Gemma 3)")
