"""The database check that `migrate` runs: a PostgreSQL database must store UTF-8 text."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.core import checks
from django.db import connection
from django.db.utils import load_backend

from operators.checks import database_encoding, encoding_error

pytestmark = pytest.mark.django_db


def test_the_suites_own_database_passes():
    assert database_encoding(databases=["default"]) == []


def test_the_check_runs_with_the_database_checks_that_migrate_runs():
    errors = checks.run_checks(tags=[checks.Tags.database], databases=["default"])
    assert not [e for e in errors if e.id == "operators.E001"]
    assert database_encoding in checks.registry.registry.get_checks()


@pytest.fixture
def ascii_database() -> Iterator[str]:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (the second CI pass)")
    name = "iclora_check_sql_ascii"
    params = connection.get_connection_params()
    admin = {k: v for k, v in params.items() if k in ("host", "port", "user", "password")}
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
        server.execute(f"DROP DATABASE IF EXISTS {name}")
        server.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    yield name
    with psycopg.connect(dbname="postgres", autocommit=True, **admin) as server:
        server.execute(f"DROP DATABASE IF EXISTS {name}")


def test_it_refuses_a_postgresql_database_that_cannot_store_any_text(ascii_database: str):
    backend = load_backend(connection.settings_dict["ENGINE"])
    other = backend.DatabaseWrapper({**connection.settings_dict, "NAME": ascii_database}, alias="ascii")
    try:
        error = encoding_error(other)
    finally:
        other.close()
    assert error is not None and error.id == "operators.E001"
    assert "stores text as SQL_ASCII" in error.msg
    assert f"CREATE DATABASE {ascii_database} ENCODING 'UTF8'" in (error.hint or "")
