"""Real services for the tests: Redis, a Celery worker and an ASGI server, as separate processes.

Workers and servers are started against the test database, so they see what a test commits
(tests that use them need `transactional_db`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis.exceptions
from django.conf import settings
from django.db import connection
from kombu.exceptions import OperationalError

ROOT = Path(__file__).resolve().parent.parent


def test_database_url() -> str:
    """DATABASE_URL of the database pytest-django created, for child processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"])
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DATABASE_URL"] = test_database_url()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop(process: subprocess.Popen[bytes], timeout: float = 15) -> None:
    from config.processes import stop_process

    stop_process(process, timeout)


class Worker:
    """A real `celery worker` process serving both queues."""

    def __init__(
        self, hostname: str, log_path: Path, queues: str = "cpu,gpu", env: dict[str, str] | None = None
    ) -> None:
        self.hostname = hostname
        self.log_path = log_path
        self.queues = queues
        self.env = env or {}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        log = self.log_path.open("ab")
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues, "--concurrency", "1",
            "--hostname", self.hostname, "--loglevel", "INFO", "--without-mingle", "--without-gossip",
        ]
        # Own process group, so `kill_hard` takes the pool's children down too, as a machine failure would.
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=child_env(**self.env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.wait_until_ready(timeout)

    def wait_until_ready(self, timeout: float) -> None:
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early; log:\n{self.log_tail()}")
            try:
                if app.control.ping(destination=[self.hostname], timeout=0.5):
                    return
            except (OSError, redis.exceptions.ConnectionError, OperationalError):
                # A pooled broker connection this process opened earlier can be dead by now (seen under pytest-xdist:
                # "Broken pipe" on the first ping): drop the pool's connections and ask again on a new one.
                app.pool.force_close_all()
        raise RuntimeError(f"Celery worker did not answer within {timeout} s; log:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def kill_hard(self) -> None:
        """SIGKILL the worker and its pool processes: no clean-up, no acknowledgement."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP the worker and its pool processes, as a hung driver or a suspended machine would."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGCONT)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


@contextmanager
def asgi_server(log_path: Path) -> Iterator[str]:
    """The web server (config.processes.web_server_command) serving config.asgi on a free port; yields its URL."""
    from config.processes import web_server_command

    port = free_port()
    command = web_server_command(sys.executable, "127.0.0.1", port)
    with log_path.open("ab") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=child_env(), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_http(url + "/healthz", process, log_path)
        yield url
    finally:
        stop(process)


def _wait_for_http(url: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Server exited early; log:\n{log_path.read_text(errors='replace')[-4000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answered, even if with 503
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"Server at {url} did not answer within {timeout} s")


def data_dir() -> Path:
    return Path(settings.DATA_DIR)


class EmbeddedRedis:
    """The session's embedded Redis, which a test may restart (same socket, data kept on disk)."""

    def __init__(self, socket_path: Path, data_dir: Path) -> None:
        self.socket_path, self.data_dir = socket_path, data_dir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from config.redis import start_embedded

        self.process = start_embedded(self.socket_path, self.data_dir)

    def stop(self) -> None:
        from config.redis import stop_embedded

        if self.process is not None:
            stop_embedded(self.process)
            self.process = None


def call_in_thread(function: Any, *args: Any) -> Any:
    """Run server-side code from a browser test: Playwright keeps an event loop in the test's thread,
    where Django's async-to-sync bridges (used by the channel layer) refuse to run."""
    import threading

    from django.db import connection as thread_connection

    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller
            result["error"] = error
        finally:
            thread_connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")
