"""What `make run` starts, on its embedded defaults: Redis, web and worker; and Ctrl-C stops them all."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.factories import PASSWORD
from tests.services import ROOT, free_port

pytestmark = pytest.mark.timeout(180)
HEALTHZ_TOKEN = "the-stack-tests-healthz-token"


def _defaults_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY")
    }
    env.update(ICLORA_DATA_DIR=str(data_dir), PORT=str(port), WORKER_HEARTBEAT_SECONDS="1",
               HEALTHZ_TOKEN=HEALTHZ_TOKEN)
    return env


def _healthz(base: str) -> tuple[int, dict]:
    try:
        # With the token: the details (the broker's socket, each queue's workers) are not for anonymous visitors.
        request = urllib.request.Request(base + "/healthz", headers={"Authorization": f"Bearer {HEALTHZ_TOKEN}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def _sign_up(base: str) -> str:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(base + "/accounts/signup/", timeout=10).read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = {"username": "maya", "email": "maya@example.com", "password1": PASSWORD, "password2": PASSWORD,
            "csrfmiddlewaretoken": token}
    request = urllib.request.Request(
        base + "/accounts/signup/", data=urllib.parse.urlencode(form).encode(), headers={"Referer": base + "/"}
    )
    with opener.open(request, timeout=10) as response:
        assert response.url == base + "/dashboard/"
        return response.read().decode()


def test_the_run_command_serves_a_working_site_and_stops_everything_on_ctrl_c(tmp_path: Path):
    data_dir, port = tmp_path / "data", free_port()
    env = _defaults_env(data_dir, port)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log = (tmp_path / "stack.log").open("wb")
    stack = subprocess.Popen([sys.executable, "-m", "config.stack"], cwd=ROOT, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline, status = time.monotonic() + 90, 0
        body: dict = {}
        while time.monotonic() < deadline and status != 200:
            time.sleep(0.5)
            try:
                status, body = _healthz(base)
            except OSError:
                continue
        assert status == 200, (body, (tmp_path / "stack.log").read_text()[-3000:])
        assert body["broker"]["url"] == f"embedded Redis on {data_dir / 'run' / 'redis.sock'}"
        assert body["queues"]["gpu"]["ok"] and body["queues"]["cpu"]["ok"]
        assert "No datasets yet." in _sign_up(base)
    finally:
        stack.send_signal(signal.SIGINT)
        exit_code = stack.wait(60)
    output = (tmp_path / "stack.log").read_text()
    assert exit_code == 0, output[-3000:]
    assert f"ICLoRA Studio is running at http://127.0.0.1:{port}/" in output
    assert "absolutely not recommended" not in output  # Celery's warning for a worker run as root
    assert ("Running as root: fine for trying it" in output) == (os.geteuid() == 0)
    assert not (data_dir / "run" / "redis.sock").exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/healthz", timeout=2)
    assert (data_dir / "db.sqlite3").exists()


def _supervisorctl(data_dir: Path, *args: str) -> str:
    config = data_dir / "run" / "supervisord.conf"
    return subprocess.run([sys.executable, "-m", "supervisor.supervisorctl", "-c", str(config), *args],
                          capture_output=True, text=True, timeout=30).stdout.strip()


def _pid_of(data_dir: Path, program: str) -> int:
    pid = _supervisorctl(data_dir, "pid", program)
    return int(pid) if pid.isdigit() else 0


def _with_descendants(pids: list[int]) -> set[int]:
    found: set[int] = set()
    todo = list(pids)
    while todo:
        pid = todo.pop()
        found.add(pid)
        for children in Path(f"/proc/{pid}/task").glob("*/children"):
            with contextlib.suppress(OSError):  # the process ended meanwhile
                todo += [int(child) for child in children.read_text().split()]
    return found


def _alive(pids: set[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _wait(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.5)
    return condition()


def test_a_process_that_dies_is_restarted_while_the_others_go_on_and_ctrl_c_leaves_no_orphans(tmp_path: Path):
    data_dir, port = tmp_path / "data", free_port()
    env = _defaults_env(data_dir, port)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    log_path = tmp_path / "stack.log"
    stack = subprocess.Popen([sys.executable, "-m", "config.stack"], cwd=ROOT, env=env, stdout=log_path.open("wb"),
                             stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return _healthz(base)[0] == 200
        except OSError:
            return False

    try:
        assert _wait(healthy, 90), log_path.read_text()[-3000:]
        worker, web, redis = (_pid_of(data_dir, name) for name in ("worker", "web", "redis"))
        assert worker and web and redis

        os.kill(worker, signal.SIGKILL)  # the worker dies: the site stays up and the worker comes back
        assert _wait(lambda: _pid_of(data_dir, "worker") not in (0, worker), 30), _supervisorctl(data_dir, "status")
        assert healthy() or _wait(healthy, 60)
        assert _pid_of(data_dir, "web") == web

        os.kill(web, signal.SIGKILL)  # the web server dies: it comes back, and the worker was left alone
        restarted_worker = _pid_of(data_dir, "worker")
        assert _wait(lambda: _pid_of(data_dir, "web") not in (0, web), 30)
        assert _wait(healthy, 60), log_path.read_text()[-3000:]
        assert _pid_of(data_dir, "worker") == restarted_worker and _pid_of(data_dir, "redis") == redis
        # supervisord counts a process as running once it has stayed up for a few seconds (startsecs).
        assert _wait(lambda: _supervisorctl(data_dir, "status").count("RUNNING") == 5, 30), _supervisorctl(
            data_dir, "status")
        status = _supervisorctl(data_dir, "status")
        assert all(f"{name}" in status for name in ("redis", "worker", "beat", "watchdog", "web")), status
        programs = [_pid_of(data_dir, name) for name in ("redis", "worker", "beat", "watchdog", "web")]
        # The worker's pool children are among them once it has forked them: a worker on the gpu queue imports the
        # engine first (config.celery), seconds after supervisord counts it as running.
        assert _wait(lambda: len(_with_descendants([stack.pid, *programs])) > len(programs) + 2, 60)
        everything = _with_descendants([stack.pid, *programs])
    finally:
        stack.send_signal(signal.SIGINT)
        exit_code = stack.wait(120)
    output = log_path.read_text()
    assert exit_code == 0, output[-3000:]
    assert "exited: worker (terminated by SIGKILL; not expected)" in output
    assert "exited: web (terminated by SIGKILL; not expected)" in output
    assert _alive(everything) == []
