from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from tests.factories import make_run
from training.models import TrainingRun
from training.quotas import usage_of
from training.runs import RunStateError, launch_run

pytestmark = pytest.mark.django_db
State = TrainingRun.State


def test_a_creator_with_the_most_concurrent_runs_is_told_to_wait(creator, settings):
    settings.QUOTA_CONCURRENT_RUNS = 2
    make_run(creator, state=State.TRAINING)
    make_run(creator, state=State.QUEUED)
    third = make_run(creator)
    with pytest.raises(RunStateError, match="You already have 2 trainings queued or running"):
        launch_run(third)
    third.refresh_from_db()
    assert third.state == State.DRAFT and not third.events.exists()  # nothing half-saved


def test_a_per_creator_quota_overrides_the_default(creator, settings):
    settings.QUOTA_CONCURRENT_RUNS = 1
    creator.max_concurrent_runs = 0  # no limit for this creator
    creator.save()
    make_run(creator, state=State.TRAINING)
    launch_run(make_run(creator))


def test_gpu_hours_of_this_month_are_counted_and_enforced(creator, settings):
    settings.QUOTA_GPU_HOURS_PER_MONTH = 3
    now = timezone.now()
    make_run(creator, state=State.SUCCEEDED, started_at=now - timedelta(minutes=200), finished_at=now)
    make_run(creator, state=State.SUCCEEDED, started_at=now - timedelta(days=40), finished_at=now - timedelta(days=39))
    assert 3.3 < usage_of(creator).gpu_hours_this_month < 3.4
    with pytest.raises(RunStateError, match="used your 3 hours of training for this month"):
        launch_run(make_run(creator))


def test_storage_quota_counts_uploads_and_checkpoints(creator, settings):
    from training.models import Checkpoint

    settings.QUOTA_STORAGE_GB = 1
    run = make_run(creator, state=State.SUCCEEDED)
    Checkpoint.objects.create(run=run, step=1, adapter_file="x.safetensors", size_bytes=2 * 1024**3)
    with pytest.raises(RunStateError, match=r"use 2\.0 GB of your 1 GB"):
        launch_run(make_run(creator))


def test_operators_have_no_quotas(operator, settings):
    settings.QUOTA_CONCURRENT_RUNS = 1
    make_run(operator, state=State.TRAINING)
    assert launch_run(make_run(operator)).state == State.QUEUED


def test_operators_see_and_edit_quotas_and_usage_in_the_console(client: Client, operator, creator):
    User.objects.filter(pk=operator.pk).update(is_superuser=True)  # user accounts are a superuser's to edit
    make_run(creator, state=State.TRAINING)
    client.force_login(operator)
    page = client.get("/admin/accounts/user/").content.decode()
    assert "1/2 · 0.0 · 0.00 GB" in page
    assert "Quotas" in client.get(f"/admin/accounts/user/{creator.pk}/change/").content.decode()


def test_the_dashboard_shows_a_creator_their_usage_against_their_limits(client: Client, creator, settings):
    settings.QUOTA_CONCURRENT_RUNS, settings.QUOTA_GPU_HOURS_PER_MONTH, settings.QUOTA_STORAGE_GB = 2, 4, 0
    now = timezone.now()
    make_run(creator, state=State.SUCCEEDED, started_at=now - timedelta(hours=3.5), finished_at=now)
    make_run(creator, state=State.TRAINING, started_at=now)
    client.force_login(creator)
    page = client.get("/dashboard/").content.decode()
    usage = page.split('aria-label="Your usage"')[1].split("</section>")[0]
    assert "Trainings queued or running" in usage and '<strong>1 <span class="muted">of 2</span>' in usage
    assert '<div class="meter-item near-limit">' in usage  # 3.5 of 4 hours
    assert "3.5 <span class=\"muted\">of 4 h</span>" in usage
    assert "<strong>0.0 GB</strong>" in usage  # no storage limit: the amount alone, no meter
    assert usage.count("<meter") == 2


def test_operators_see_their_usage_without_limits(client: Client, operator, settings):
    settings.QUOTA_CONCURRENT_RUNS = 1
    make_run(operator, state=State.TRAINING)
    client.force_login(operator)
    usage = client.get("/dashboard/").content.decode().split('aria-label="Your usage"')[1].split("</section>")[0]
    assert "<strong>1</strong>" in usage and "<meter" not in usage
