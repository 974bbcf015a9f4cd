"""Stopping child processes politely, then firmly."""

from __future__ import annotations

import subprocess

GRACEFUL_SHUTDOWN_SECONDS = 5


def stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def web_server_command(python: str, host: str, port: int) -> list[str]:
    """The ASGI server for HTTP and websockets: uvicorn, whose sends wait for a slow client (flow control), so a
    large download streams through a chunk of memory; daphne buffered it all (bench/download_memory.py). Django
    has no lifespan events to serve. On SIGTERM it lets requests finish for a few seconds, then closes what is
    left (a run page's websocket reconnects to another replica, or after the restart)."""
    return [python, "-m", "uvicorn", "--host", host, "--port", str(port), "--lifespan", "off",
            "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS), "config.asgi:application"]
