"""System checks an operator sees before the app runs: `migrate` runs them against the database it migrates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

UTF8_NAMES = {"UTF8", "UTF-8", "UNICODE"}


def encoding_error(connection: BaseDatabaseWrapper) -> checks.Error | None:
    """A PostgreSQL database that cannot store any text (SQL_ASCII, LATIN1…) fails runs halfway, not at the start.

    Captions, names and run events hold any language and typographic characters ("·", "“", emoji), which
    PostgreSQL refuses to convert into a non-UTF-8 database; the first such write would fail a creator's run.
    """
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_encoding")
        encoding = cursor.fetchone()[0]
    if encoding.upper() in UTF8_NAMES:
        return None
    name = connection.settings_dict["NAME"]
    return checks.Error(
        f"The database {name!r} stores text as {encoding}, so captions, names and run logs with characters outside "
        "that set would fail to save and stop runs halfway.",
        hint=f"Create the database with UTF-8 text: CREATE DATABASE {name} ENCODING 'UTF8' TEMPLATE template0; "
        "(the official postgres image does this already).",
        id="operators.E001",
    )


@checks.register(checks.Tags.database)
def database_encoding(
    app_configs: Sequence[AppConfig] | None = None, databases: Sequence[str] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    errors = [encoding_error(connections[alias]) for alias in databases or []]
    return [error for error in errors if error is not None]
