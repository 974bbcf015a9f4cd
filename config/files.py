"""Stored files that several rows may share: a Studio generation reuses a dataset clip or an earlier reference,
an adapter tried from a run's page shares its checkpoint's file. A file is deleted only when no row of any model
names it any more, checked once the deletion that freed it has committed."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models, transaction


def referenced(name: str) -> bool:
    """Whether any row of any model still names the stored file `name`."""
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if isinstance(field, models.FileField) and model._default_manager.filter(**{field.name: name}).exists():
                return True
    return False


def _delete_if_unreferenced(name: str) -> None:
    if not referenced(name):
        default_storage.delete(name)


def delete_unreferenced_on_commit(names: Iterable[str]) -> None:
    """After the current transaction commits, delete each of `names` that nothing names any more."""
    for name in sorted({name for name in names if name}):
        transaction.on_commit(partial(_delete_if_unreferenced, name))
