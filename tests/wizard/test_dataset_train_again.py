"""The dataset page offers to train its clips on another base model with the settings of the latest ended run on them,
through the same confirmation page as a run's "Train again"; never without an ended run or another base."""

from __future__ import annotations

from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import make_dataset, make_run, tiny_run_config
from training.models import TrainingRun
from training.runs import train_again_on
from wizard.models import TrainingDraft

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def offer(page: str) -> str:
    """The dataset page's train-again part, or "" when it has none."""
    return page.split('id="dataset-train-again"')[1].split("</div>")[0] if 'id="dataset-train-again"' in page else ""


def dataset_page(client, dataset) -> str:
    return unescape(client.get(reverse("wizard:dataset", args=[dataset.pk])).content.decode())


def test_the_dataset_page_offers_the_other_base_with_the_settings_of_the_latest_ended_run(maya, creator, settings):
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    dataset = make_dataset(creator, name="Street clips")
    now = timezone.now()
    older = make_run(creator, dataset=dataset, name="Streets v1", state=State.SUCCEEDED,
                     finished_at=now - timedelta(days=2))
    latest = make_run(creator, dataset=dataset, name="Streets v2", state=State.FAILED, finished_at=now,
                      config=tiny_run_config(steps=12))
    make_run(creator, dataset=dataset, name="Streets v3", state=State.QUEUED)  # still going: not the one
    TrainingDraft.objects.create(owner=creator, dataset=dataset, name="Streets v1", run=older)

    part = offer(dataset_page(maya, dataset))
    assert "Your latest training, “Streets v2”, was on LTX-2.3." in part
    link = f'{reverse("run_train_again", args=[latest.pk])}?base=ltx-2.5&from=dataset'
    assert f'href="{link}"' in part and ">Train on LTX-2.5</a>" in part and "Train on LTX-2.3" not in part

    confirm = maya.get(reverse("run_train_again", args=[latest.pk]), {"base": "ltx-2.5", "from": "dataset"})
    page = unescape(confirm.content.decode())
    assert "Train “Streets v2” again on LTX-2.5" in page
    assert f'<a href="{reverse("wizard:dataset", args=[dataset.pk])}">Street clips</a> › Train again' in page


def test_a_run_trained_again_from_the_dataset_is_listed_with_its_base_and_the_offer_follows_the_latest(
    maya, creator, settings, django_capture_on_commit_callbacks
):
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    dataset = make_dataset(creator)
    source = make_run(creator, dataset=dataset, name="Streets", state=State.SUCCEEDED, finished_at=timezone.now(),
                      config=tiny_run_config(steps=12))
    with django_capture_on_commit_callbacks(execute=False):
        again = train_again_on(source, "ltx-2.5")
    page = dataset_page(maya, dataset)
    assert f'href="{reverse("run_detail", args=[again.pk])}"' in page
    assert "Streets (LTX-2.5) <span class=\"muted\">· LTX-2.5</span>" in page

    TrainingRun.objects.filter(pk=again.pk).update(state=State.SUCCEEDED, finished_at=timezone.now())
    part = offer(dataset_page(maya, dataset))
    assert "Your latest training, “Streets (LTX-2.5)”, was on LTX-2.5." in part
    assert ">Train on LTX-2.3</a>" in part and "Train on LTX-2.5" not in part


def test_the_dataset_page_offers_no_other_base_without_an_ended_run_or_without_another_base(
    maya, creator, settings
):
    dataset = make_dataset(creator)
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    assert offer(dataset_page(maya, dataset)) == ""  # no run at all
    make_run(creator, dataset=dataset, state=State.TRAINING)
    assert offer(dataset_page(maya, dataset)) == ""  # only one still going
    make_run(creator, dataset=dataset, state=State.SUCCEEDED, finished_at=timezone.now())
    assert offer(dataset_page(maya, dataset)) != ""
    settings.TINY_MODEL_BASES = ("ltx-2.3",)
    assert offer(dataset_page(maya, dataset)) == ""  # this server offers one base


def test_another_creator_sees_neither_the_dataset_nor_its_train_again_page(client, creator, other_creator, settings):
    settings.TINY_MODEL_BASES = ("ltx-2.3", "ltx-2.5")
    dataset = make_dataset(creator)
    ended = make_run(creator, dataset=dataset, state=State.SUCCEEDED, finished_at=timezone.now())
    client.force_login(other_creator)
    assert client.get(reverse("wizard:dataset", args=[dataset.pk])).status_code == 404
    assert client.get(reverse("run_train_again", args=[ended.pk]), {"base": "ltx-2.5"}).status_code == 404
