import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, env_bool, env_int, env_path, redis_url

ROOT = Path(__file__).resolve().parents[2]


def test_it_reads_sqlite_and_postgres_urls():
    sqlite = database_from_url("DATABASE_URL", "sqlite:////srv/studio/db.sqlite3")
    assert sqlite["ENGINE"] == "django.db.backends.sqlite3"
    assert sqlite["NAME"] == "/srv/studio/db.sqlite3"

    postgres = database_from_url("DATABASE_URL", "postgres://studio:p%40ss@db.internal:5433/iclora?sslmode=require")
    assert postgres["ENGINE"] == "django.db.backends.postgresql"
    assert (postgres["USER"], postgres["PASSWORD"], postgres["HOST"], postgres["PORT"], postgres["NAME"]) == (
        "studio", "p@ss", "db.internal", "5433", "iclora",
    )
    assert postgres["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    "url", ["nonsense", "mysql://root@localhost/db", "postgres://localhost", "sqlite://relative.db", "sqlite:///"]
)
def test_it_rejects_database_urls_it_cannot_use(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url("DATABASE_URL", url)


def test_it_rejects_values_that_are_not_what_the_variable_needs(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe' is not a yes/no value"):
        env_bool("DEBUG", False)
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(ImproperlyConfigured, match="PORT='eighty' is not a whole number"):
        env_int("PORT", 8000)
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(ImproperlyConfigured, match="maximum is 65535"):
        env_int("PORT", 8000, maximum=65535)
    monkeypatch.setenv("ICLORA_DATA_DIR", "relative/data")
    with pytest.raises(ImproperlyConfigured, match="must be an absolute path"):
        env_path("ICLORA_DATA_DIR", Path("/tmp"))
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        redis_url("REDIS_URL", "localhost:6379")


def test_it_uses_defaults_when_variables_are_unset(monkeypatch):
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert env_bool("DEBUG", False) is False
    assert env_int("PORT", 8000) == 8000


def _run(args, **env):
    import os

    # As a real deployment would run it: without the test runner's own relaxations.
    environ = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env={**environ, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_app_refuses_to_start_with_a_bad_database_url():
    result = _run(["-m", "config.stack", "--check"], DATABASE_URL="nonsense")
    assert result.returncode == 2
    assert "ICLoRA Studio cannot start: DATABASE_URL='nonsense' is not a database URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_manage_py_names_the_bad_variable_too():
    result = _run(["manage.py", "check"], REDIS_URL="not-a-url")
    assert result.returncode != 0
    assert "REDIS_URL='not-a-url' is not a Redis URL" in result.stderr


def test_the_stack_check_accepts_the_default_settings():
    result = _run(["-m", "config.stack", "--check"])
    assert result.returncode == 0, result.stderr
    assert "Settings are valid." in result.stdout


def test_production_settings_pass_the_deployment_checklist():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], HTTPS="true", DEBUG="false",
                  SECRET_KEY="a-production-secret-key-that-is-long-and-random-enough-0123456789-abcdefgh",
                  ALLOWED_HOSTS="studio.example.com")
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    result = _run(["-m", "config.stack", "--check"], HTTPS="true", SECRET_KEY="")
    assert result.returncode == 2
    assert "SECRET_KEY must be set when HTTPS=true" in result.stderr


def test_direct_downloads_without_a_bucket_stop_the_app_with_the_reason():
    result = _run(["-m", "config.stack", "--check"], S3_DIRECT_DOWNLOADS="true", S3_BUCKET="")
    assert result.returncode == 2
    assert "S3_DIRECT_DOWNLOADS=true needs S3_BUCKET" in result.stderr


def test_a_metrics_token_too_short_to_keep_a_secret_stops_the_app():
    result = _run(["-m", "config.stack", "--check"], METRICS_TOKEN="short")
    assert result.returncode == 2
    assert "METRICS_TOKEN is too short" in result.stderr


def test_a_healthz_token_too_short_to_keep_a_secret_stops_the_app():
    result = _run(["-m", "config.stack", "--check"], HEALTHZ_TOKEN="short")
    assert result.returncode == 2
    assert "HEALTHZ_TOKEN is too short" in result.stderr
