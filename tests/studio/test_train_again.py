"""An ended run's creator trains its clips and settings again on another base model the server offers: an adapter only
works with the base it was trained on."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import make_run, sent_tasks, tiny_run_config
from training.models import RunEvent, TrainingRun

pytestmark = pytest.mark.django_db


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

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = maya.post(reverse("run_train_again", args=[source.pk]), {"base": "ltx-2.5"})
    again = TrainingRun.objects.exclude(pk=source.pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[again.pk])
    assert (again.base, again.name, again.state) == ("ltx-2.5", "Street restore (LTX-2.5)", TrainingRun.State.QUEUED)
    assert (again.dataset, again.recipe, again.config, again.total_steps) == (source.dataset, source.recipe,
                                                                              source.config, 12)
    assert sent_tasks(callbacks) == [("training.tasks.train_run", (again.pk,))]
    assert again.events.filter(kind=RunEvent.Kind.LOG, payload__message__startswith="Trains “Street restore” again "
                               "on LTX-2.5").exists()


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
