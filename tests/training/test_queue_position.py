"""Where a waiting run stands in the GPU queue, as its creator sees it on the run page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import make_run
from training.models import TrainingRun
from training.runs import runs_ahead

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def queued(owner, minutes_ago: int, priority: int = 0) -> TrainingRun:
    return make_run(owner, state=State.QUEUED, priority=priority,
                    queued_at=timezone.now() - timedelta(minutes=minutes_ago))


def test_runs_queued_earlier_or_at_a_sooner_priority_are_ahead(creator, other_creator):
    first = queued(other_creator, 30)
    mine = queued(creator, 20)
    later = queued(other_creator, 10)
    urgent = queued(other_creator, 5, priority=2)  # an operator moved it up

    assert [runs_ahead(run) for run in (urgent, first, mine, later)] == [0, 1, 2, 3]


def test_a_run_that_is_not_waiting_has_no_place_in_the_queue(creator):
    assert runs_ahead(make_run(creator, state=State.TRAINING)) is None
    assert runs_ahead(make_run(creator, state=State.DRAFT)) is None


def test_the_run_page_says_how_many_trainings_are_ahead(client: Client, creator, other_creator):
    queued(other_creator, 30)
    mine = queued(creator, 20, priority=0)
    client.force_login(creator)

    page = client.get(f"/runs/{mine.pk}/").content.decode()
    first = client.get(f"/runs/{queued(creator, 40).pk}/").content.decode()

    assert "1 training ahead of yours." in page
    assert "Yours is next in line." in first
