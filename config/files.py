"""Stored files that several rows may share: a Studio generation reuses a dataset clip or an earlier reference,
an adapter tried from a run's page shares its checkpoint's file. A file is deleted only when no row of any model
names it any more, checked once the deletion that freed it has committed."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models, transaction

BATCH = 500  # names per query, well under SQLite's limit on query parameters
POSTER_SUFFIX = ".poster.jpg"


def poster_name(video_name: str) -> str:
    """Where the poster of the stored video `video_name` is kept (config.delivery makes it): beside the video, under
    the video's whole name, so no field needs to name it and it is deleted with the video."""
    return f"{video_name}{POSTER_SUFFIX}"


def still_referenced(names: Iterable[str], ignoring: Iterable[models.Field] = ()) -> set[str]:
    """Those of `names` that some row of some model still names, in a file field other than those `ignoring`
    (one query per file field and batch)."""
    wanted = sorted(set(names))
    skipped = set(ignoring)
    found: set[str] = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if not isinstance(field, models.FileField) or field in skipped:
                continue
            for start in range(0, len(wanted), BATCH):
                rows = model._default_manager.filter(**{f"{field.name}__in": wanted[start:start + BATCH]})
                found.update(rows.values_list(field.name, flat=True))
    return found


def _delete_unreferenced(names: list[str]) -> None:
    for name in set(names) - still_referenced(names):
        default_storage.delete(name)
        default_storage.delete(poster_name(name))  # its poster, if one was made (deleting none is no error)


def delete_unreferenced_on_commit(names: Iterable[str]) -> None:
    """After the current transaction commits, delete each of `names` that nothing names any more."""
    batch = sorted({name for name in names if name})
    if batch:
        transaction.on_commit(partial(_delete_unreferenced, batch))
