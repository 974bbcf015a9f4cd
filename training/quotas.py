"""What a creator may still launch: concurrent runs, GPU hours this month, storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from accounts.models import User
from datasets.models import DatasetFile
from training.models import Checkpoint, TrainingRun

GB = 1024**3


class QuotaExceeded(Exception):
    """A launch refused by a quota, with the reason and what to do in plain words."""


@dataclass(frozen=True)
class Usage:
    active_runs: int
    gpu_hours_this_month: float
    storage_bytes: int


@dataclass(frozen=True)
class Limits:
    concurrent_runs: int  # 0: no limit
    gpu_hours_per_month: int
    storage_gb: int


def limits_of(user: User) -> Limits:
    def pick(own: int | None, default: int) -> int:
        return default if own is None else own

    return Limits(
        concurrent_runs=pick(user.max_concurrent_runs, settings.QUOTA_CONCURRENT_RUNS),
        gpu_hours_per_month=pick(user.gpu_hours_per_month, settings.QUOTA_GPU_HOURS_PER_MONTH),
        storage_gb=pick(user.storage_quota_gb, settings.QUOTA_STORAGE_GB),
    )


def usage_of(user: User, now: datetime | None = None) -> Usage:
    now = now or timezone.now()
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    runs = TrainingRun.objects.filter(owner=user)
    seconds = sum(
        ((run.finished_at or now) - run.started_at).total_seconds()
        for run in runs.filter(started_at__gte=month_start).only("started_at", "finished_at")
        if run.started_at is not None
    )
    uploads = DatasetFile.objects.filter(dataset__owner=user).aggregate(total=Sum("size"))["total"] or 0
    checkpoints = Checkpoint.objects.filter(run__owner=user).aggregate(total=Sum("size_bytes"))["total"] or 0
    return Usage(
        active_runs=runs.filter(state__in=TrainingRun.ACTIVE_STATES).count(),
        gpu_hours_this_month=seconds / 3600,
        storage_bytes=int(uploads + checkpoints),
    )


def check_can_launch(user: User) -> None:
    """Raise QuotaExceeded when `user` may not start another training now. Operators have no quotas."""
    if user.is_staff:
        return
    limits, usage = limits_of(user), usage_of(user)
    if limits.concurrent_runs and usage.active_runs >= limits.concurrent_runs:
        raise QuotaExceeded(
            f"You already have {usage.active_runs} training{'s' if usage.active_runs != 1 else ''} queued or "
            f"running, the most this installation allows at once. Launch this one when one of them ends, or "
            "stop one from its run page."
        )
    if limits.gpu_hours_per_month and usage.gpu_hours_this_month >= limits.gpu_hours_per_month:
        renews = (timezone.now().replace(day=1) + timedelta(days=32)).replace(day=1)
        raise QuotaExceeded(
            f"You have used your {limits.gpu_hours_per_month} hours of training for this month. They renew on "
            f"{renews:%B} 1; an operator can raise your allowance."
        )
    if limits.storage_gb and usage.storage_bytes >= limits.storage_gb * GB:
        raise QuotaExceeded(
            f"Your clips and checkpoints use {usage.storage_bytes / GB:.1f} GB of your {limits.storage_gb} GB. "
            "Delete datasets or runs you no longer need, or ask an operator for more room."
        )


@dataclass(frozen=True)
class Meter:
    """One line of a creator's usage, as the dashboard shows it."""

    label: str
    used: str
    limit: str  # "" when there is no limit
    fraction: float | None  # of the limit, None when there is none

    @property
    def near_limit(self) -> bool:
        return self.fraction is not None and self.fraction >= 0.8


def meters(user: User) -> list[Meter]:
    """Trainings at once, training hours this month and storage, against the creator's limits (operators have
    none)."""
    usage = usage_of(user)
    limits = Limits(0, 0, 0) if user.is_staff else limits_of(user)

    def meter(label: str, used: float, limit: int, text: str, unit: str) -> Meter:
        if not limit:
            return Meter(label, f"{text} {unit}".strip(), "", None)
        return Meter(label, text, f"{limit} {unit}".strip(), min(1.0, used / limit))

    return [
        meter("Trainings queued or running", usage.active_runs, limits.concurrent_runs, str(usage.active_runs), ""),
        meter("Training hours this month", usage.gpu_hours_this_month, limits.gpu_hours_per_month,
              f"{usage.gpu_hours_this_month:.1f}", "h"),
        meter("Storage", usage.storage_bytes / GB, limits.storage_gb, f"{usage.storage_bytes / GB:.1f}", "GB"),
    ]
