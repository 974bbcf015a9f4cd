"""Shared fixtures: real Redis, a real Celery worker, a real ASGI server, Chromium, and personas."""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from config.redis import wait_until_ready
from tests import factories, services
from tests.s3 import s3_endpoint, s3_storage  # noqa: F401  (fixtures for any test that needs a bucket)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


# Tests of framework-free code (the trainer, the extraction core): no database, broker or channel layer is
# involved, so CI's second pass on PostgreSQL and an external Redis leaves them out (`-m "not backend_free"`).
BACKEND_FREE = frozenset(f"tests/{name}.py" for name in (
    "datasets/test_voice_pairing", "prep/test_canny", "prep/test_captions", "prep/test_depth", "prep/test_pose",
    "prep/test_video",
    "training/test_buckets", "training/test_cli", "training/test_dataset", "training/test_export",
    "training/test_ltx_core_parity", "training/test_media", "training/test_loader", "training/test_step",
    "training/test_train", "training/test_translate",
))


TIMED_OUT = pytest.StashKey[bool]()
_timeouts: list[str] = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and "Timeout (>" in str(report.longrepr):
        _timeouts.append(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a test that timed out, exit at once: a thread it left stuck (an event loop that never finished
    closing) would keep the interpreter from exiting, and CI waiting for it until its own limit."""
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if _timeouts and stuck:
        session.config.stash[TIMED_OUT] = True
        sys.stderr.write(f"\nA test timed out; not waiting for the threads it left behind: {', '.join(stuck)}\n")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(TIMED_OUT, False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)


# Fixtures that start real processes (a Celery worker, a uvicorn server): tests using them are marked `worker`.
WORKER_FIXTURES = frozenset({"celery_worker", "live_asgi_url"})
SLOW_TESTS = frozenset(
    line.strip() for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)


# Fixtures that give a test a training config or a trained adapter: such a test trains (marked `training`).
TRAINING_FIXTURES = frozenset({"make_config", "raw_config", "trained"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test for the subsets (`browser`, `worker`, `training`, `slow`, `backend_free`), and runs browser tests
    last: Playwright keeps an event loop in the main thread for the rest of the session, where the other tests'
    `async_to_sync` would refuse to run."""
    for item in items:
        nodeid = item.nodeid.replace("\\", "/")
        path = nodeid.split("::")[0]
        if path.startswith("tests/browser/"):
            item.add_marker(pytest.mark.browser)
        if path in BACKEND_FREE:
            item.add_marker(pytest.mark.backend_free)
        if WORKER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.worker)
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.training)
        if nodeid in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session", autouse=True)
def redis_server() -> Iterator[services.EmbeddedRedis | None]:
    """The embedded Redis for this session (restartable), or None when REDIS_URL names an external one."""
    endpoint = settings.REDIS
    if not endpoint.embedded:
        wait_until_ready(endpoint, timeout=10)
        yield None
        return
    assert endpoint.socket_path is not None
    server = services.EmbeddedRedis(endpoint.socket_path, Path(settings.DATA_DIR) / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def logs_dir() -> Path:
    path = Path(settings.DATA_DIR) / "logs"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def celery_worker(django_db_setup: None, django_db_blocker: Any, logs_dir: Path) -> Iterator[services.Worker]:
    """A real Celery worker process on the `cpu` and `gpu` queues, using the test database.

    Its torch uses one thread (unless OMP_NUM_THREADS says otherwise): on a shared 2-core machine the tiny
    model trains and samples many times faster without OpenMP threads spinning against other processes.
    """
    with django_db_blocker.unblock():
        threads = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
        worker = services.Worker("tests@localhost", logs_dir / "worker.log", env=threads)
        worker.start()
    yield worker
    worker.stop()


@pytest.fixture(scope="session")
def live_asgi_url(django_db_setup: None, django_db_blocker: Any, logs_dir: Path) -> Iterator[str]:
    """Base URL of the real web server (HTTP and websockets) on the test database."""
    with django_db_blocker.unblock(), services.asgi_server(logs_dir / "web.log") as url:
        yield url


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """Debian's Chromium, never a downloaded browser; quiet flags for a machine with no network."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic",
        ],
    }


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- Personas


@pytest.fixture
def creator(db: None) -> User:
    return factories.make_user("maya")


@pytest.fixture
def maya(client: Client, creator: User) -> Client:
    """The test client, signed in as the creator."""
    client.force_login(creator)
    return client


@pytest.fixture
def without_depth_or_pose(settings: Any, tmp_path: Path) -> None:
    """A server with neither a depth model nor the pose interpreter (availability is cached per path)."""
    settings.DEPTH_MODEL_PATH = None
    settings.POSE_PYTHON = tmp_path / "no-pose-env" / "bin" / "python"


@pytest.fixture
def other_creator(db: None) -> User:
    return factories.make_user("otto")


@pytest.fixture
def operator(db: None) -> User:
    return factories.make_user("olivia", staff=True)
