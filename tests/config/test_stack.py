"""What `make run` starts, on its embedded defaults: Redis, web and worker; and Ctrl-C stops them all."""

from __future__ import annotations

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


def _defaults_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY")
    }
    env.update(ICLORA_DATA_DIR=str(data_dir), PORT=str(port), WORKER_HEARTBEAT_SECONDS="1")
    return env


def _healthz(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=5) as response:
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
    assert not (data_dir / "run" / "redis.sock").exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(base + "/healthz", timeout=2)
    assert (data_dir / "db.sqlite3").exists()
