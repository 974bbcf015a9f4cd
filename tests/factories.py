"""Small factories for the objects tests need, with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from accounts.models import User
from training.models import TrainingRun
from wizard.models import Dataset

_counter = itertools.count(1)
PASSWORD = "a-long-test-password-42"


def make_user(username: str | None = None, *, staff: bool = False, **extra: Any) -> User:
    username = username or f"creator{next(_counter)}"
    return User.objects.create_user(
        username=username,
        email=extra.pop("email", f"{username}@example.com"),
        password=PASSWORD,
        is_staff=staff,
        **extra,
    )


def make_dataset(owner: User, **extra: Any) -> Dataset:
    defaults: dict[str, Any] = {"name": f"Dataset {next(_counter)}", "recipe": "depth"}
    return Dataset.objects.create(owner=owner, **{**defaults, **extra})


def make_run(owner: User, **extra: Any) -> TrainingRun:
    dataset = extra.pop("dataset", None) or make_dataset(owner)
    defaults: dict[str, Any] = {"name": f"Run {next(_counter)}", "recipe": dataset.recipe, "total_steps": 100}
    return TrainingRun.objects.create(owner=owner, dataset=dataset, **{**defaults, **extra})
