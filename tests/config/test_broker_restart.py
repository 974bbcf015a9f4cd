"""A worker keeps consuming across a restart of its Redis, and a task sent while Redis is away still runs.

Each test starts a redis-server and a Celery worker of its own (the session's Redis is never restarted), so it runs
the same whether or not REDIS_URL names an external server. The worker also loads this module (`-I`) for `hold`: a
restart only goes wrong while a task is in flight, its message delivered but not yet acknowledged (acks_late).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings

from config.redis import BrokerTransport, RedisEndpoint, embedded_server_binary, wait_until_ready
from tests import services
from tests.helpers import wait_for

pytestmark = pytest.mark.timeout(240)

OUTAGE_SECONDS = 3
HOLD_SECONDS = 10  # the task in flight outlasts the outage, so it is acknowledged on the restarted server
BACK_WITHIN_SECONDS = 60


logger = get_task_logger(__name__)


@shared_task(name="tests.broker_restart.hold")
def hold(seconds: float) -> None:
    logger.info("holding for %s s", seconds)
    time.sleep(seconds)


class RedisServer:
    """A redis-server like the embedded one (append-only file, Unix socket), optionally on a TCP port too."""

    def __init__(self, data_dir: Path, socket_path: Path, port: int | None = None) -> None:
        self.data_dir, self.socket_path, self.port = data_dir, socket_path, port
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> RedisEndpoint:
        if self.port is not None:
            return RedisEndpoint(url=f"redis://127.0.0.1:{self.port}/0", socket_path=None)
        return RedisEndpoint(url=None, socket_path=self.socket_path)

    def start(self) -> None:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            str(embedded_server_binary()),
            "--port", str(self.port or 0), "--bind", "127.0.0.1",
            "--unixsocket", str(self.socket_path), "--unixsocketperm", "700",
            "--dir", str(self.data_dir), "--appendonly", "yes", "--save", "",
            "--loglevel", "warning", "--logfile", str(self.data_dir / "redis.log"),
        ]
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until_ready(self.endpoint, timeout=15, process=self.process)

    def stop(self, hard: bool = False) -> None:
        if self.process is None:
            return
        if hard:
            self.process.kill()
            self.process.wait()
        else:
            services.stop(self.process)
        self.process = None


class RestartWorker(services.Worker):
    """A worker of this project on the `cpu` queue of its own Redis, with `hold` loaded.

    Two pool processes, as `make run` starts: with one busy, the worker keeps a BRPOP pending for the other, and
    that pending read is what the lost connection breaks while a message is unacknowledged. Ready when its log
    says so: `Worker.wait_until_ready` pings through the session's broker, not this one.
    """

    def start(self, timeout: float = 60) -> None:
        command = [
            sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", self.queues, "--concurrency", "2",
            "--hostname", self.hostname, "--loglevel", "INFO", "--without-mingle", "--without-gossip",
            "-I", "tests.config.test_broker_restart",
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=services.ROOT, env=services.child_env(**self.env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_until_ready(timeout)

    def wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"Celery worker exited early; log:\n{self.log_tail()}")
            if f"{self.hostname} ready." in self.log_tail(100_000):
                return
            time.sleep(0.2)
        raise RuntimeError(f"Celery worker did not get ready within {timeout} s; log:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def succeeded(self, task_name: str, task_id: str) -> bool:
        return f"Task {task_name}[{task_id}] succeeded" in self.log_tail(1_000_000)

    def stop(self) -> None:
        super().stop()
        if self.process is not None:
            # Pool children outlive a main process that had to be killed; they are in its process group.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def broker_and_worker(
    request: pytest.FixtureRequest, transactional_db: None, tmp_path: Path
) -> Iterator[tuple[RedisServer, RestartWorker]]:
    """A Redis and a worker using it; `request.param` says how the worker finds Redis: "socket" (the embedded
    default: no REDIS_URL, the socket in its data folder) or "tcp" (REDIS_URL)."""
    form = getattr(request, "param", "socket")
    data_dir = tmp_path / "worker-data"
    port = services.free_port() if form == "tcp" else None
    server = RedisServer(tmp_path / "redis", data_dir / "run" / "redis.sock", port)
    env = {"ICLORA_DATA_DIR": str(data_dir), "REDIS_URL": server.endpoint.url or "", "OMP_NUM_THREADS": "1"}
    worker = RestartWorker(f"restart-{form}@localhost", tmp_path / "worker.log", queues="cpu", env=env)
    try:
        server.start()
        worker.start()
        yield server, worker
    finally:
        worker.stop()
        server.stop(hard=True)


def _send(endpoint: RedisEndpoint, task: Any, *args: Any) -> str:
    """Publish as the web process does (`apply_async`, the settings' retry policy), to this test's Redis."""
    from config.celery import app

    with app.connection_for_write(url=endpoint.celery_url) as connection:
        return str(task.apply_async(args=args, queue="cpu", connection=connection).id)


def _probe(endpoint: RedisEndpoint) -> str:
    from config.tasks import probe_cpu

    return _send(endpoint, probe_cpu, "broker-restart", time.time())


def _runs_within(worker: RestartWorker, task_name: str, task_id: str, timeout: float) -> None:
    try:
        wait_for(lambda: worker.succeeded(task_name, task_id), timeout=timeout, interval=0.3)
    except AssertionError:
        pytest.fail(f"{task_name}[{task_id}] did not run within {timeout} s; worker log:\n{worker.log_tail(6000)}")


@pytest.mark.parametrize("broker_and_worker", ["socket", "tcp"], indirect=True)
def test_a_task_queued_after_redis_restarts_under_a_running_task_is_run(broker_and_worker):
    server, worker = broker_and_worker
    _runs_within(worker, "config.tasks.probe_cpu", _probe(server.endpoint), timeout=30)

    held = _send(server.endpoint, hold, HOLD_SECONDS)
    # Running in a pool process, not only received: a message the main process has received but not yet handed to
    # the pool is dropped from memory when the connection closes (Celery's Consumer.on_close) and, after a crash
    # of Redis, may be gone from its append-only file too (written up to a second late). That is the job
    # lifecycle's case (the watchdog sends a job still queued after two minutes again), not this test's.
    wait_for(lambda: f"tests.broker_restart.hold[{held}]: holding" in worker.log_tail(100_000), timeout=30)
    # A clean restart (SIGTERM) over the socket; a crash (SIGKILL) over TCP.
    server.stop(hard=server.port is not None)
    time.sleep(OUTAGE_SECONDS)
    server.start()

    _runs_within(worker, "config.tasks.probe_cpu", _probe(server.endpoint), timeout=BACK_WITHIN_SECONDS)
    _runs_within(worker, "tests.broker_restart.hold", held, timeout=BACK_WITHIN_SECONDS)
    log = worker.log_tail(1_000_000)
    assert "Unrecoverable error" not in log, log[-6000:]
    assert worker.alive(), log[-6000:]
    # Acknowledged on the restarted server rather than handed out again: it ran once.
    assert len(re.findall(rf"hold\[{held}\] received", log)) == 1, log[-6000:]
    assert "Couldn't ack" not in log, log[-6000:]
    # The pool logs success before the main process acknowledges.
    unacked = f"{settings.CELERY_BROKER_TRANSPORT_OPTIONS['global_keyprefix']}unacked"
    wait_for(lambda: server.endpoint.client().hlen(unacked) == 0, timeout=10)


def test_a_task_sent_while_redis_is_away_runs_once_redis_is_back(broker_and_worker):
    server, worker = broker_and_worker
    server.stop()
    sent: dict[str, Any] = {}

    def send() -> None:
        started = time.monotonic()
        try:
            sent["id"] = _probe(server.endpoint)
        except Exception as error:  # reported by the test thread
            sent["error"] = error
        sent["seconds"] = time.monotonic() - started

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    time.sleep(OUTAGE_SECONDS * 2)
    server.start()
    sender.join(BACK_WITHIN_SECONDS)
    assert not sender.is_alive(), "apply_async still blocked a minute after Redis came back"
    assert "error" not in sent, f"apply_async gave up after {sent['seconds']:.1f} s: {sent['error']!r}"
    _runs_within(worker, "config.tasks.probe_cpu", sent["id"], timeout=BACK_WITHIN_SECONDS)
    assert "Unrecoverable error" not in worker.log_tail(1_000_000)


@pytest.mark.parametrize("url", ["redis+socket:///tmp/iclora.sock", "redis://127.0.0.1:6379/0", "rediss://r:6380/0"])
def test_every_redis_broker_url_uses_the_transport_that_survives_a_restart(url):
    from config.celery import app

    with app.connection_for_write(url=url) as connection:
        assert isinstance(connection.transport, BrokerTransport)
