"""Small factories for the objects tests need, with sensible defaults."""

from __future__ import annotations

import itertools
from typing import Any

from accounts.models import User
from datasets.models import Dataset
from training.models import TrainingRun

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


def make_ready_dataset(owner: User, folder: Any, count: int = 3, **extra: Any) -> Dataset:
    """A dataset of `count` real generated pairs (restoration: degraded reference → clean target), checked OK."""
    from pathlib import Path

    from django.core.files import File

    from datasets.models import ClipPair
    from engine.synthetic import make_clip

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    dataset = make_dataset(owner, recipe="restoration", **extra)
    for index in range(count):
        pair = ClipPair(dataset=dataset, name=f"clip{index}", position=index, caption=f"a generated scene {index}",
                        status=ClipPair.Status.OK)
        for field_name, degrade in (("target_file", False), ("reference_file", True)):
            path = make_clip(folder / f"{field_name}_{index}.mp4", seed=index, degrade=degrade)
            with path.open("rb") as handle:
                getattr(pair, field_name).save(path.name, File(handle), save=False)
        pair.save()
    return dataset


def tiny_run_config(steps: int = 12, checkpoint_every: int = 6, **overrides: Any) -> dict[str, Any]:
    """Trainer settings small enough for the tiny model on a CPU in seconds."""
    config: dict[str, Any] = {
        "bucket": {"width": 128, "height": 96, "frames": 9, "fps": 24},
        "lora": {"rank": 4},
        "optim": {"steps": steps},
        "checkpoint": {"every": checkpoint_every, "keep": 2},
        "validation": {"every": 0},
        "data": {"max_sequence_length": 32},
    }
    config.update(overrides)
    return config


def sent_tasks(callbacks: list[Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """(task name, args) of the tasks `enqueue_on_commit` scheduled among captured on-commit callbacks."""
    from functools import partial

    return [
        (callback.func.__self__.name, tuple(callback.keywords["args"]))  # type: ignore[attr-defined]
        for callback in callbacks
        if isinstance(callback, partial) and getattr(callback.func, "__name__", "") == "apply_async"
    ]
