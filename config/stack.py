"""`make run`: Redis (embedded unless REDIS_URL is set), the web server, a worker, beat and the job watchdog,
each supervised by supervisord: a process that exits is restarted with a growing delay and the others go on;
Ctrl-C stops them all, children included.

Usage: python -m config.stack [--check]
  --check  load the settings and exit: bad environment values are reported without a traceback.

While it runs, `.venv/bin/supervisorctl -c DATA_DIR/run/supervisord.conf status` shows each process.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import django
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from config.processes import web_server_command
from config.redis import embedded_command, wait_until_ready

ROOT = Path(__file__).resolve().parent.parent
# A process that lived this long counted as started: a later exit restarts it at once, with a fresh backoff.
STARTED_AFTER_SECONDS = 3
# Quick exits in a row before supervisord gives up on a process (it waits 1 s longer before each retry, so
# about eight minutes in all); the other processes keep running.
START_RETRIES = 30


def _load_settings() -> Any:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    return settings


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def programs(settings: Any, port: int, redis_command: list[str] | None) -> list[tuple[str, list[str], int]]:
    """(name, command, priority): supervisord starts the lower priorities first and stops them last."""
    python = sys.executable
    run_dir = Path(settings.DATA_DIR) / "run"
    celery = [python, "-m", "celery", "-A", "config"]
    listed: list[tuple[str, list[str], int]] = []
    if redis_command is not None:
        listed.append(("redis", redis_command, 10))
    # Celery warns at length about a worker run as root; on one's own machine that is how `make run` is often
    # started, so the start message says it once, calmly (the deploy/ images run everything as a plain user).
    quiet_root = ["-W", "ignore:You're running the worker with superuser privileges"] if running_as_root() else []
    worker = [python, *quiet_root, "-m", "celery", "-A", "config"]
    listed += [
        ("worker", [*worker, "worker", "-Q", "cpu,gpu", "--concurrency", "2", "--hostname", "local@%h",
                    "--loglevel", "INFO", "--without-mingle", "--without-gossip"], 20),
        # Beat only sends the hourly housekeeping tasks; the job watchdog is a process of its own (see
        # jobs/management/commands/watchdog.py).
        ("beat", [*celery, "beat", "--loglevel", "WARNING", "--schedule", str(run_dir / "celerybeat-schedule")], 30),
        ("watchdog", [python, "manage.py", "watchdog"], 30),
        ("web", web_server_command(python, "127.0.0.1", port), 40),
    ]
    return listed


def supervisord_config(run_dir: Path, listed: list[tuple[str, list[str], int]]) -> str:
    """supervisord's configuration: everything in the foreground, every line on this console."""

    def value(text: str) -> str:
        return text.replace("%", "%%")  # supervisord expands %(name)s in its values

    lines = [
        "[supervisord]",
        "nodaemon=true",
        f"logfile={value(str(run_dir / 'supervisord.log'))}",
        "logfile_maxbytes=1MB",
        "logfile_backups=1",
        f"pidfile={value(str(run_dir / 'supervisord.pid'))}",
        "loglevel=info",
        "",
        "[unix_http_server]",
        f"file={value(str(run_dir / 'supervisor.sock'))}",
        "chmod=0700",
        "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "",
        "[supervisorctl]",
        f"serverurl=unix://{value(str(run_dir / 'supervisor.sock'))}",
    ]
    for name, command, priority in listed:
        lines += [
            "",
            f"[program:{name}]",
            f"command={value(shlex.join(command))}",
            f"directory={value(str(ROOT))}",
            f"priority={priority}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={STARTED_AFTER_SECONDS}",
            f"startretries={START_RETRIES}",
            # A worker's warm shutdown finishes what it can; whatever it holds after that resumes on the next start.
            "stopsignal=TERM",
            "stopwaitsecs=15",
            # The whole process group: a worker's pool children and uvicorn's reloader never outlive their parent.
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            "stdout_logfile=/dev/stdout",
            "stdout_logfile_maxbytes=0",
        ]
    return "\n".join(lines) + "\n"


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

    port = int(os.environ.get("PORT", "8000"))
    redis_endpoint = settings.REDIS
    run_dir = Path(settings.DATA_DIR) / "run"
    run_dir.mkdir(parents=True, exist_ok=True)
    try:
        redis_command = (embedded_command(redis_endpoint.socket_path, Path(settings.DATA_DIR) / "redis")
                         if redis_endpoint.embedded else None)
        if redis_command is None:
            wait_until_ready(redis_endpoint, timeout=10)
    except RuntimeError as error:
        print(f"ICLoRA Studio cannot start: {error}", file=sys.stderr)
        return 2
    config_path = run_dir / "supervisord.conf"
    config_path.write_text(supervisord_config(run_dir, programs(settings, port, redis_command)))

    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    # Its own session: a Ctrl-C reaches us once, and supervisord then stops everything in order.
    supervisor = subprocess.Popen([sys.executable, "-m", "supervisor.supervisord", "-c", str(config_path)],
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        if redis_command is not None:
            wait_until_ready(redis_endpoint, timeout=30)
        print(
            f"\nICLoRA Studio is running at http://127.0.0.1:{port}/\n"
            f"  Redis: {redis_endpoint.describe()}\n"
            f"  Data folder: {settings.DATA_DIR}\n"
            "  Each process is restarted if it stops; see them with\n"
            f"  `.venv/bin/supervisorctl -c {config_path} status`.\n"
            "  Create an account on the sign-up page; to make an operator account run\n"
            "  `.venv/bin/python manage.py createsuperuser`.\n"
            "  Press Ctrl-C to stop everything.\n"
            + ("  Running as root: fine for trying it on your own machine; the images in deploy/ run as a plain "
               "user.\n" if running_as_root() else ""),
            flush=True,
        )
    except RuntimeError as error:
        print(f"ICLoRA Studio could not start Redis: {error}", file=sys.stderr)
        stopping = True
    while not stopping and supervisor.poll() is None:
        time.sleep(0.3)
    if supervisor.poll() is None:
        print("Stopping ICLoRA Studio…", flush=True)
        supervisor.send_signal(signal.SIGTERM)
    try:
        # Each program gets stopwaitsecs to stop; they stop in order, so allow for all of them.
        code = supervisor.wait(90)
    except subprocess.TimeoutExpired:
        supervisor.kill()
        code = supervisor.wait()
    return 0 if stopping and code == 0 else (code or 1)


if __name__ == "__main__":
    sys.exit(main())
