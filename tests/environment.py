"""Loaded with `-p tests.environment` before Django starts, so settings read the test environment.

Each test session gets its own data folder (database file, media, embedded Redis socket) and its own
Redis key prefix, so it never touches a developer's data or another run's queues.
"""

import os
import tempfile

_session_dir = tempfile.mkdtemp(prefix="iclora-test-")
os.environ.setdefault("ICLORA_DATA_DIR", _session_dir)
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("REDIS_KEY_PREFIX", f"iclora-test-{os.getpid()}")
# pytest-xdist's processes inherit the environment this module gave the main one (or one given from outside, as in
# ICLORA_DATA_DIR=/tmp/x pytest -n 2): each takes a data folder and a Redis key prefix of its own, or two would share
# one embedded Redis socket, or, on an external Redis, one Celery queue feeding two databases.
_xdist_process = os.environ.get("PYTEST_XDIST_WORKER")
if _xdist_process:
    os.environ["ICLORA_DATA_DIR"] = os.path.join(os.environ["ICLORA_DATA_DIR"], _xdist_process)
    os.environ["REDIS_KEY_PREFIX"] = f"{os.environ['REDIS_KEY_PREFIX']}-{_xdist_process}"
os.environ.setdefault("WORKER_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("WORKER_STALE_SECONDS", "5")
# Small pieces, so generated clips of a few hundred KB go through resumable uploads in the browser tests too.
os.environ.setdefault("UPLOAD_CHUNK_KB", "64")
# Playwright's sync API runs an event loop in the test thread; the tests still use the ORM there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Under pytest-xdist (make test) the processes share the cores: torch in each takes its share, not all of them, or
# the training tests' threads would spin against each other (set before torch is imported; child processes inherit).
_processes = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _processes > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _processes)))
# The random tiny model keeps the many tests that only need *a* model fast; the tests that judge what an adapter
# learns load the trained demo model themselves.
os.environ.setdefault("MODEL_PRESET", "tiny")
