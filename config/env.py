"""Typed readers for environment variables.

Every reader names the variable in its error, so a bad value stops the app at start with a message an
operator can act on instead of a confusing failure later.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


def env_str(name: str, default: str) -> str:
    value = _raw(name)
    return default if value is None or value == "" else value


def env_optional_str(name: str) -> str | None:
    value = _raw(name)
    return value or None


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value. Use one of: true, false, 1, 0.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={number} is too small; the minimum is {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={number} is too large; the maximum is {maximum}.")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    value = _raw(name)
    if not value:
        return default
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ImproperlyConfigured(f"{name}={value!r} must be an absolute path.")
    return path


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default)
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} is not one of: {', '.join(choices)}.")
    return value


def env_names(name: str, default: tuple[str, ...], choices: tuple[str, ...]) -> tuple[str, ...]:
    """A comma-separated list of names, each one of `choices`, none twice, at least one; the first is the default
    wherever one is needed."""
    value = _raw(name)
    if value is None or value == "":
        return default
    names = tuple(item.strip() for item in value.split(","))
    unknown = [item for item in names if item not in choices]
    if unknown:
        raise ImproperlyConfigured(f"{name}={value!r}: {', '.join(repr(u) for u in unknown)} is not one of: "
                                   f"{', '.join(choices)} (comma-separated).")
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"{name}={value!r} names the same one twice.")
    return names


def database_from_url(name: str, url: str) -> dict[str, object]:
    """Django DATABASES entry for `sqlite:///path` or `postgres://user:pass@host:port/db`."""
    parts = urlsplit(url)
    hint = "Use sqlite:////absolute/path/db.sqlite3 or postgres://user:password@host:5432/dbname."
    if parts.scheme == "sqlite":
        # sqlite:////srv/db.sqlite3 names /srv/db.sqlite3 (three slashes, then the absolute path).
        path = unquote(parts.path)[1:]
        if parts.netloc or not path.startswith("/") or path == "/":
            raise ImproperlyConfigured(
                f"{name}={url!r} is not a valid SQLite URL: it needs an absolute path after 'sqlite:///'. {hint}"
            )
        # Several processes (web, workers) share one file: wait for locks instead of failing.
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": path,
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    if parts.scheme in ("postgres", "postgresql", "pgsql"):
        dbname = unquote(parts.path.lstrip("/"))
        if not dbname or not parts.hostname:
            raise ImproperlyConfigured(f"{name}={url!r} needs a host and a database name. {hint}")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name}={url!r} has an invalid port. {hint}") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": dbname,
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname,
            "PORT": str(port or ""),
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    raise ImproperlyConfigured(f"{name}={url!r} is not a database URL. {hint}")


def redis_url(name: str, url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ImproperlyConfigured(
            f"{name}={url!r} is not a Redis URL. Use redis://host:6379/0, or leave it unset to use "
            "the embedded Redis that `make run` starts."
        )
    return url
