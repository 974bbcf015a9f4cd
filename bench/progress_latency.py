"""Progress latency worker → browser, and websocket fan-out to many watchers of one run.

What a training worker does (record the event in the database, push it to the run's group) is timed
until real websocket clients, connected to the real web server through the Redis channel layer,
receive it. Run: .venv/bin/python bench/progress_latency.py [--watchers 1 50 200] [--events 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ICLORA_DATA_DIR", tempfile.mkdtemp(prefix="iclora-bench-"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def watch(url: str, headers: dict[str, str], expected: int, latencies: list[float], ready: asyncio.Event,
                counter: list[int], total: int) -> None:
    import websockets

    async with websockets.connect(url, additional_headers=headers, max_queue=None) as socket:
        counter[0] += 1
        if counter[0] == total:
            ready.set()
        got = 0
        while got < expected:
            message = json.loads(await asyncio.wait_for(socket.recv(), timeout=60))
            if message["kind"] == "progress":
                latencies.append(time.time() - message["payload"]["sent"])
                got += 1


async def scenario(url: str, headers: dict[str, str], run_id: int, watchers: int, events: int,
                   interval: float) -> list[float]:
    from channels.db import database_sync_to_async

    from training.events import record_event

    latencies: list[float] = []
    ready, counter = asyncio.Event(), [0]
    clients = [asyncio.create_task(watch(url, headers, events, latencies, ready, counter, watchers))
               for _ in range(watchers)]
    await asyncio.wait_for(ready.wait(), timeout=120)
    await asyncio.sleep(0.5)
    for step in range(events):
        await database_sync_to_async(record_event)(run_id, "progress", {"step": step, "sent": time.time()})
        await asyncio.sleep(interval)
    await asyncio.wait_for(asyncio.gather(*clients), timeout=120)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--watchers", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--events", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between events (a fast run)")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from config.redis import start_embedded, stop_embedded
    from tests.factories import make_run, make_user
    from tests.services import free_port

    call_command("migrate", verbosity=0)
    endpoint = settings.REDIS
    redis = start_embedded(endpoint.socket_path, Path(settings.DATA_DIR) / "redis") if endpoint.socket_path else None
    owner = make_user("bench")
    run = make_run(owner)
    client = Client()
    client.force_login(owner)
    port = free_port()
    from config.processes import web_server_command

    server = subprocess.Popen(web_server_command(sys.executable, "127.0.0.1", port), cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(3)
    headers = {"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": f"http://127.0.0.1:{port}"}
    url = f"ws://127.0.0.1:{port}/ws/runs/{run.pk}/?after=1000000"
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"database {connection.vendor}, {settings.REDIS.describe()}")
    print("| watchers | events | delivered | p50 ms | p95 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|")
    try:
        for watchers in args.watchers:
            latencies = asyncio.run(scenario(url, headers, run.pk, watchers, args.events, args.interval))
            ms = [value * 1000 for value in latencies]
            print(f"| {watchers} | {args.events} | {len(ms)}/{watchers * args.events} | "
                  f"{statistics.median(ms):.1f} | {percentile(ms, 0.95):.1f} | {max(ms):.1f} |", flush=True)
    finally:
        server.terminate()
        server.wait()
        if redis is not None:
            stop_embedded(redis)


if __name__ == "__main__":
    main()
