"""`make run`: start Redis (embedded unless REDIS_URL is set), the web server and a worker; stop all on Ctrl-C.

Usage: python -m config.stack [--check]
  --check  load the settings and exit: bad environment values are reported without a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from types import FrameType

from django.core.exceptions import ImproperlyConfigured

from config.processes import web_server_command


def _load_settings() -> object:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django
    from django.conf import settings

    django.setup()
    return settings


def _commands(settings: object, port: int) -> list[tuple[str, list[str]]]:
    python = sys.executable
    return [
        ("web", web_server_command(python, "127.0.0.1", port)),
        (
            "worker",
            # -B runs the periodic watchdog inside this single local worker.
            [python, "-m", "celery", "-A", "config", "worker", "-Q", "cpu,gpu", "--concurrency", "2",
             "--hostname", "local@%h", "--loglevel", "INFO", "--without-mingle", "--without-gossip",
             "-B", "--schedule", str(settings.DATA_DIR / "run" / "celerybeat-schedule")],  # type: ignore[attr-defined]
        ),
    ]


def _stop(children: list[tuple[str, subprocess.Popen[bytes]]], timeout: float = 15.0) -> None:
    for _, process in children:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for _, process in children:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check the settings")
    args = parser.parse_args(argv)
    try:
        settings = _load_settings()
    except ImproperlyConfigured as error:
        print(f"ICLoRA Studio cannot start: {error}", file=sys.stderr)
        return 2
    if args.check:
        print("Settings are valid.")
        return 0

    from config.redis import start_embedded, stop_embedded, wait_until_ready

    port = int(os.environ.get("PORT", "8000"))
    redis_endpoint = settings.REDIS  # type: ignore[attr-defined]
    redis_process = None
    if redis_endpoint.embedded:
        redis_process = start_embedded(redis_endpoint.socket_path, settings.DATA_DIR / "redis")  # type: ignore[attr-defined]
    else:
        wait_until_ready(redis_endpoint, timeout=10)

    children: list[tuple[str, subprocess.Popen[bytes]]] = []
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for name, command in _commands(settings, port):
            # Own process group: Ctrl-C reaches us once, and we stop children in order.
            children.append((name, subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)))
        print(
            f"\nICLoRA Studio is running at http://127.0.0.1:{port}/\n"
            f"  Redis: {redis_endpoint.describe()}\n"
            f"  Data folder: {settings.DATA_DIR}\n"  # type: ignore[attr-defined]
            "  Create an account on the sign-up page; to make an operator account run\n"
            "  `.venv/bin/python manage.py createsuperuser`.\n"
            "  Press Ctrl-C to stop everything.\n",
            flush=True,
        )
        while not stopping:
            for name, process in children:
                if process.poll() is not None:
                    print(f"The {name} process exited with code {process.returncode}; stopping.", file=sys.stderr)
                    stopping = True
            time.sleep(0.3)
    finally:
        print("Stopping ICLoRA Studio…", flush=True)
        _stop(children)
        if redis_process is not None:
            stop_embedded(redis_process)
    return 0


if __name__ == "__main__":
    sys.exit(main())
