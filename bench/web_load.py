"""Web speed under load: simulated creators on the dashboard, run pages and the Studio, against the real web server.

    .venv/bin/python bench/web_load.py                          # 50 creators for 60 s, nothing else running
    .venv/bin/python bench/web_load.py --training               # the same while a real training runs on a worker
    .venv/bin/python bench/web_load.py --creators 10 --seconds 20

It makes a data folder of its own (ICLORA_DATA_DIR in a temporary folder, removed at the end unless --keep),
migrates it and gives every creator what a creator who has used the app for a while has: a dataset of 20 pairs,
a finished training run and one still training (each with 300 events, a loss point per step, checkpoints and
validation samples), their adapter, a few Studio generations (one of them still being made) and control videos.
The runs and the generation "still going" are held by a remote GPU worker that does not exist: only their rows
say so, as a web server in front of GPU machines sees it (no watchdog runs here to take them back).

Then it starts what `make run` starts for the web, with the stack's own commands (config.stack.programs): the
embedded Redis and the web server (uvicorn, config.processes.web_server_command) on 127.0.0.1 and a free port;
with --training also the stack's Celery worker, and launches a real training run on the tiny model
(MODEL_PRESET=tiny) that goes on for the whole measurement, on the same cores.

Each simulated creator has a session of its own (a cookie made with Django's session store, as a sign-in makes
it) and its own keep-alive connection, and goes round what a creator does, with pauses of --think seconds:

    the dashboard → the run still training (stays --run-stay s) → the finished run → the Studio →
    the generation being made (stays --gen-stay s) → a finished generation → the dashboard …

On each page it does what the page's htmx attributes say (read from the HTML it got, so a template change shows
in the figures): every element with `hx-get` and an `every Ns` trigger is requested every N seconds while the
creator stays, and the answer replaces the element's settings. On the run still training one checkpoint and one
validation sample arrive during each stay (an exaggeration: a real run makes one every few minutes), and every
element listening to `run:checkpoint` or `run:sample` is fetched, as the page script makes htmx do. The pages'
websockets are opened and held while the creator stays (--no-sockets leaves them out), but the pushes that
refresh parts are not simulated: nothing pushes to the fake remote jobs. Only loopback is used.

It prints p50/p95/p99 per kind of request and over all HTTP requests (the websocket connections are their own
row and are not in the overall figures), the request rate and any error, then stops every process it started
(on an error or Ctrl-C too) and removes its data folder.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# Environment that must not reach this script's Django or the processes it starts: they run on their embedded
# defaults (SQLite and Redis in the temporary data folder).
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY",
               "TINY_MODEL_DIR", "S3_BUCKET", "DEBUG", "PORT")
PAIRS = 20
EVENTS = 300
FINISHED_STEPS = 2000
ACTIVE_STEP = 1000
EVERY = 250  # checkpoint and validation every this many steps
VALIDATION_CLIPS = 4
GENERATIONS = 5  # finished ones, besides the one being made
TAG = re.compile(r"<[a-zA-Z][^>]*\shx-get=\"[^\"]*\"[^>]*>")
ATTRIBUTE = re.compile(r"\s(hx-get|hx-trigger)=\"([^\"]*)\"")
EVERY_TRIGGER = re.compile(r"^every\s+(\d+(?:\.\d+)?)(ms|s)?$")
KINDS = [
    (re.compile(r"^/dashboard/$"), "dashboard"),
    (re.compile(r"^/$"), "home (redirect)"),
    (re.compile(r"^/runs/\d+/$"), "run page"),
    (re.compile(r"^/runs/\d+/part/status/$"), "run part: status"),
    (re.compile(r"^/runs/\d+/part/checkpoints/$"), "run part: checkpoints"),
    (re.compile(r"^/runs/\d+/part/samples/$"), "run part: samples"),
    (re.compile(r"^/runs/\d+/part/delete/$"), "run part: delete"),
    (re.compile(r"^/studio/$"), "studio page"),
    (re.compile(r"^/studio/generations/\d+/$"), "generation page"),
    (re.compile(r"^/studio/generations/\d+/status/$"), "generation part: status"),
]


def kind_of(path: str) -> str:
    for pattern, kind in KINDS:
        if pattern.match(path.split("?")[0]):
            return kind
    return "other: " + path


def percentile(values: list[float], q: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node()}: {os.cpu_count()} cores ({model or platform.machine()}), Python "
            f"{platform.python_version()}, load average {load:.2f} before the run")


# --- processes


def _ticks(pid: int) -> int:
    """CPU time of one process so far (user + system, clock ticks); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0
    return int(fields[11]) + int(fields[12])


def _tree(pid: int) -> list[int]:
    """`pid` and its descendants (a worker's pool processes)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for path in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo += [int(child) for child in path.read_text().split()]
    return found


class CpuMeter:
    """CPU used during the measurement: by the whole machine, by each process started here (with its children),
    and by this script (the simulated creators)."""

    def __init__(self, processes: dict[str, int]) -> None:
        self.processes = processes
        self.hz = os.sysconf("SC_CLK_TCK")
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        values = {name: sum(_ticks(p) for p in _tree(pid)) / self.hz for name, pid in self.processes.items()}
        times = os.times()
        values["creators (this script)"] = times.user + times.system
        with contextlib.suppress(OSError, ValueError):
            jiffies = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            values["machine busy"] = (sum(jiffies) - jiffies[3] - jiffies[4]) / self.hz
        values["wall"] = time.monotonic()
        return values

    def summary(self) -> dict[str, float]:
        """Cores used on average during the measurement, by each."""
        end = self._read()
        wall = end["wall"] - self.start["wall"]
        return {name: round((end[name] - self.start[name]) / wall, 2) for name in end
                if name != "wall" and name in self.start}


class Processes:
    """Every process this bench starts, each in a session of its own; `stop_all` ends them all (process groups)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as handle:
            process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=handle,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append((name, process))
        return process

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for _name, process in reversed(self.started):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(max(0.1, deadline - time.monotonic()))
            # The group too: a worker's pool processes outlive a main process that was killed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        self.started.clear()


def wait_http(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            connection.getresponse().read()  # 200, or 503 while a check fails: it answers either way
            connection.close()
            return
        time.sleep(0.2)
    raise RuntimeError(f"The web server did not answer on port {port} within {timeout:.0f} s.")


# --- the data


@dataclass
class Creator:
    index: int
    cookie: str
    active_run: int
    finished_run: int
    active_generation: int
    finished_generations: list[int]
    last_seq: dict[int, int] = field(default_factory=dict)


def _events(run: Any, final_step: int, finished: bool, started: Any) -> list[Any]:
    """300 events as a worker writes them: state changes, log lines, checkpoints and samples, and progress
    with the loss points since the last one."""
    from datetime import timedelta

    from training.models import RunEvent

    K = RunEvent.Kind
    rows: list[tuple[str, dict[str, Any]]] = [
        (K.STATE, {"state": "queued", "label": "Waiting for a GPU", "message": "Waiting for a GPU."}),
        (K.STATE, {"state": "preparing", "label": "Preparing the dataset", "message": "Preparing 20 pairs."}),
        (K.LOG, {"message": "pair 1: cropped to 768x448"}),
        (K.STATE, {"state": "training", "label": "Training", "message": "Training."}),
    ]
    closing = [(K.STATE, {"state": "finishing", "label": "Saving the adapter", "message": "Saving the adapter."}),
               (K.STATE, {"state": "succeeded", "label": "Finished", "message": "Finished."})] if finished else []
    marks = list(range(EVERY, final_step + 1, EVERY))
    extra: list[tuple[int, str, dict[str, Any]]] = [(s, K.CHECKPOINT, {"step": s, "size_bytes": 4_200_000})
                                                     for s in marks]
    extra += [(s, K.SAMPLE, {"step": s, "index": i}) for s in marks for i in range(VALIDATION_CLIPS)]
    extra += [(s, K.LOG, {"message": f"step {s}: validation samples made"}) for s in marks]
    progress_count = EVENTS - len(rows) - len(closing) - len(extra)
    per = max(1, final_step // progress_count)
    body: list[tuple[int, str, dict[str, Any]]] = []
    for n in range(progress_count):
        step = min(final_step, (n + 1) * per)
        points = [[s, round(1.0 / math.sqrt(s + 1), 5)] for s in range(step - per + 1, step + 1)]
        body.append((step, K.PROGRESS, {"step": step, "total": FINISHED_STEPS, "loss": points[-1][1], "lr": 1e-4,
                                        "steps_per_second": 1.3, "eta_seconds": (FINISHED_STEPS - step) / 1.3,
                                        "peak_memory_mb": 41000.0, "points": points}))
    body += extra
    body.sort(key=lambda item: item[0])
    ordered = rows + [(kind, payload) for _, kind, payload in body] + closing
    return [RunEvent(run=run, seq=seq, kind=kind, payload=payload, created_at=started + timedelta(seconds=seq))
            for seq, (kind, payload) in enumerate(ordered, start=1)]


def _run_config(trigger: str) -> dict[str, Any]:
    return {
        "bucket": {"width": 768, "height": 448, "frames": 49, "fps": 24},
        "lora": {"rank": 32},
        "optim": {"steps": FINISHED_STEPS},
        "checkpoint": {"every": EVERY, "keep": 8},
        "validation": {"every": EVERY, "prompts": [f"{trigger} a street at dusk, clip {i}"
                                                    for i in range(VALIDATION_CLIPS)],
                       "reference_videos": [f"bench/validation/ref_{i}.mp4" for i in range(VALIDATION_CLIPS)]},
        "data": {"trigger": trigger, "max_sequence_length": 256},
    }


def make_creators(count: int) -> list[Creator]:
    """`count` creators with their history, in bulk; each with a session cookie as a sign-in makes it."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.utils import timezone

    from accounts.models import User
    from datasets.models import ClipPair, Dataset
    from prep.models import Extraction
    from studio.models import Adapter, Generation
    from training.models import Checkpoint, RunEvent, RunMetric, TrainingRun, ValidationSample

    store = import_module(settings.SESSION_ENGINE).SessionStore
    backend = settings.AUTHENTICATION_BACKENDS[0]
    now = timezone.now()
    creators = []
    for index in range(count):
        user = User(username=f"bench{index}", email=f"bench{index}@example.com")
        user.set_unusable_password()
        user.save()
        trigger = f"BENCH{index}"
        dataset = Dataset.objects.create(owner=user, name=f"Depth pairs {index}", recipe="depth",
                                         trigger_phrase=trigger)
        meta: dict[str, Any] = {"width": 1280, "height": 720, "fps": 24.0, "frames": 120, "duration": 5.0,
                                "codec": "h264"}
        ClipPair.objects.bulk_create([
            ClipPair(dataset=dataset, name=f"clip{p:02d}", position=p, caption=f"a city street at dusk, take {p}",
                     status=ClipPair.Status.OK, target_file=f"bench/{index}/clip{p:02d}.mp4",
                     reference_file=f"bench/{index}/clip{p:02d}_depth.mp4", target_meta=meta, reference_meta=meta)
            for p in range(PAIRS)])
        runs = {}
        for finished in (True, False):
            step = FINISHED_STEPS if finished else ACTIVE_STEP
            run = TrainingRun.objects.create(
                owner=user, dataset=dataset, name=f"Depth v{2 if finished else 3} ({index})", recipe="depth",
                config=_run_config(trigger), total_steps=FINISHED_STEPS, step=step, loss=1 / math.sqrt(step + 1),
                steps_per_second=1.3, eta_seconds=None if finished else (FINISHED_STEPS - step) / 1.3,
                state=TrainingRun.State.SUCCEEDED if finished else TrainingRun.State.TRAINING,
                state_reason="Finished." if finished else "Training.", worker="" if finished else "remote-gpu@gpu1",
                lease=1, attempts=1, queued_at=now, started_at=now, claimed_at=now, heartbeat_at=now,
                progress_at=now, finished_at=now if finished else None)
            RunEvent.objects.bulk_create(_events(run, step, finished, now), batch_size=500)
            RunMetric.objects.bulk_create([RunMetric(run=run, step=s, loss=1 / math.sqrt(s + 1), learning_rate=1e-4)
                                           for s in range(1, step + 1)], batch_size=1000)
            Checkpoint.objects.bulk_create([
                Checkpoint(run=run, step=s, adapter_file=f"bench/{index}/{run.pk}/step{s}.safetensors",
                           state_file=f"bench/{index}/{run.pk}/step{s}.pt", size_bytes=4_200_000)
                for s in range(EVERY, step + 1, EVERY)])
            ValidationSample.objects.bulk_create([
                ValidationSample(run=run, step=s, prompt=f"{trigger} a street at dusk, clip {i}",
                                 video_file=f"bench/{index}/{run.pk}/sample_{s}_{i}.mp4")
                for s in range(EVERY, step + 1, EVERY) for i in range(VALIDATION_CLIPS)])
            runs[finished] = run
        adapter = Adapter.objects.create(owner=user, name=f"Depth v2 ({index})", source=Adapter.Source.TRAINED,
                                         file=f"bench/{index}/adapter.safetensors", run=runs[True], rank=32,
                                         trigger_phrase=trigger, recipe="depth")
        settings_of = {"adapter_name": adapter.name, "adapter_scale": 1.0, "reference_name": "clip03_depth.mp4",
                       "width": 768, "height": 448, "num_frames": 121, "frame_rate": 24.0, "num_inference_steps": 30,
                       "guidance_scale": 3.0, "seed": 42, "attention_strength": 1.0, "mask_preset": "whole",
                       "compare": True, "seconds": 41.5, "notes": ["The reference was fitted to 768×448."]}
        generations = []
        for g in range(GENERATIONS + 1):
            active = g == GENERATIONS
            generation = Generation(
                owner=user, adapter=adapter, prompt=f"{trigger} a rainy neon street, take {g}", settings=settings_of,
                reference_file=f"bench/{index}/gen{g}/reference.mp4",
                state=Generation.State.RUNNING if active else Generation.State.SUCCEEDED,
                progress=0.42 if active else 1.0, worker="remote-gpu@gpu1" if active else "", lease=1, attempts=1,
                queued_at=now, started_at=now, claimed_at=now, heartbeat_at=now, finished_at=None if active else now)
            if not active:
                generation.reference_preview_file = f"bench/{index}/gen{g}/reference_preview.mp4"
                generation.output_file = f"bench/{index}/gen{g}/output.mp4"
                generation.baseline_file = f"bench/{index}/gen{g}/baseline.mp4"
            generation.save()
            generations.append(generation.pk)
        Extraction.objects.bulk_create([
            Extraction(owner=user, method=method, settings_key=f"{index}-{method}", source=f"bench/{index}/src.mp4",
                       source_name="walk.mp4", source_sha256="0" * 64, state=Extraction.State.DONE,
                       output=f"bench/{index}/{method}.mp4", frames_done=120, frames_total=120, finished_at=now,
                       report={"frames": 120, "width": 768, "height": 448, "fps": 24.0})
            for method in (Extraction.Method.DEPTH, Extraction.Method.CANNY)])
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        creators.append(Creator(index, f"{settings.SESSION_COOKIE_NAME}={session.session_key}", runs[False].pk,
                                runs[True].pk, generations[-1], generations[:-1]))
    return creators


# --- a real training on the stack's worker


def start_training(folder: Path) -> int:
    """A ready dataset of real generated pairs and a training run on the tiny model, launched as the wizard
    launches it; long enough to outlast the measurement (it is stopped at the end)."""
    from django.core.management import call_command

    from accounts.models import User
    from tests.factories import make_ready_dataset  # the tests' pairs; needs Django set up, as above
    from training.models import TrainingRun
    from training.runs import launch_run

    call_command("ensure_tiny_model")
    user = User(username="trainer", email="trainer@example.com", max_concurrent_runs=0)
    user.set_unusable_password()
    user.save()
    # The tests' ready pairs: real generated restoration pairs, checked OK.
    dataset = make_ready_dataset(user, folder, 4, name="Restoration pairs", trigger_phrase="RESTORE")
    steps = 100_000
    config: dict[str, Any] = {
        "bucket": {"width": 128, "height": 96, "frames": 9, "fps": 24},
        "lora": {"rank": 4},
        "optim": {"steps": steps},
        "checkpoint": {"every": 500, "keep": 2},
        "validation": {"every": 0},
        "data": {"max_sequence_length": 32},
    }
    run = TrainingRun.objects.create(owner=user, dataset=dataset, name="Load-bench training", recipe="restoration",
                                     config=config, total_steps=steps)
    launch_run(run)
    return int(run.pk)


def wait_training(run_id: int, timeout: float) -> float:
    """Until the run has made progress twice; returns its steps per second."""
    from training.models import TrainingRun

    deadline = time.monotonic() + timeout
    first: tuple[float, int] | None = None
    while time.monotonic() < deadline:
        run = TrainingRun.objects.get(pk=run_id)
        if run.state in TrainingRun.FINAL_STATES:
            raise RuntimeError(f"The bench's training ended before the measurement: {run.state} "
                               f"{run.state_reason} {run.error_message}")
        if run.state == TrainingRun.State.TRAINING and run.step > 0:
            if first is None:
                first = (time.monotonic(), run.step)
            elif run.step > first[1] and time.monotonic() - first[0] > 3:
                return (run.step - first[1]) / (time.monotonic() - first[0])
        time.sleep(0.5)
    raise RuntimeError(f"The bench's training did not start within {timeout:.0f} s.")


# --- the simulated creators


@dataclass
class Result:
    kind: str
    seconds: float
    status: int
    at: float


class Browser:
    """One creator's browser: a keep-alive connection, its session cookie, what its htmx would request."""

    def __init__(self, creator: Creator, port: int, args: argparse.Namespace, deadline: float,
                 results: list[Result], lock: threading.Lock, seed: int) -> None:
        self.creator, self.port, self.args, self.deadline = creator, port, args, deadline
        self.results, self.lock = results, lock
        self.random = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None
        self.errors: list[str] = []

    def get(self, path: str, htmx: bool = False) -> tuple[int, str]:
        headers = {"Cookie": self.creator.cookie, "Accept": "text/html"}
        if htmx:
            headers["HX-Request"] = "true"
        for attempt in (1, 2):  # a keep-alive connection the server closed is opened again once
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            started = time.perf_counter()
            try:
                self.connection.request("GET", path, headers=headers)
                response = self.connection.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError) as error:
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    self.errors.append(f"{path}: {type(error).__name__}: {error}")
                    return 0, ""
                continue
            elapsed = time.perf_counter() - started
            with self.lock:
                self.results.append(Result(kind_of(path), elapsed, response.status, time.monotonic()))
            if response.status >= 400:
                self.errors.append(f"{path}: HTTP {response.status}")
            return response.status, body.decode("utf-8", "replace")
        return 0, ""

    def socket(self, path: str) -> Any:
        """The page's websocket, held while the creator stays (None with --no-sockets or if it fails)."""
        if self.args.no_sockets:
            return None
        from websockets.sync.client import connect

        started = time.perf_counter()
        try:
            connection = connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=30,
                                 additional_headers={"Cookie": self.creator.cookie,
                                                     "Origin": f"http://127.0.0.1:{self.port}"})
        except Exception as error:  # any failure is reported; the creator goes on
            self.errors.append(f"{path}: websocket {type(error).__name__}: {error}")
            return None
        with self.lock:
            self.results.append(Result("websocket connect", time.perf_counter() - started, 101, time.monotonic()))
        return connection

    def pause(self, seconds: float) -> bool:
        """Sleep, or less up to the deadline; False once the deadline has passed."""
        left = self.deadline - time.monotonic()
        time.sleep(max(0.0, min(seconds, left)))
        return time.monotonic() < self.deadline

    def think(self) -> bool:
        low, high = self.args.think
        return self.pause(self.random.uniform(low, high))

    def stay(self, page: str, seconds: float, events: tuple[str, ...] = ()) -> None:
        """Stay on a page for `seconds`: its periodic htmx requests, and the parts listening to `events`, each
        event arriving once at a random moment of the stay."""
        elements = triggers_in(page)
        start = time.monotonic()
        end = min(self.deadline, start + seconds)
        due: dict[str, float] = {}
        for url, trigger in elements.items():
            interval = every_of(trigger)
            if interval:
                due[url] = start + interval
        arrivals = sorted((start + self.random.uniform(0.5, seconds), event) for event in events)
        while True:
            next_poll = min(due.values(), default=math.inf)
            next_event = arrivals[0][0] if arrivals else math.inf
            at = min(next_poll, next_event)
            if at >= end:
                self.pause(end - time.monotonic())
                return
            self.pause(at - time.monotonic())
            if next_event <= next_poll:
                _, event = arrivals.pop(0)
                urls = [url for url, trigger in elements.items() if listens(trigger, event)]
            else:
                urls = [min(due, key=lambda url: due[url])]
            for url in urls:
                _, html = self.get(url, htmx=True)
                elements.update(triggers_in(html))
                if url not in triggers_in(html):  # the part no longer asks to be refreshed (outerHTML swap)
                    elements.pop(url, None)
                interval = every_of(elements.get(url, ""))
                if interval:
                    due[url] = time.monotonic() + interval
                else:
                    due.pop(url, None)

    def visit(self, path: str, stay: float = 0.0, events: tuple[str, ...] = (), ws: str = "") -> bool:
        _, page = self.get(path)
        with contextlib.ExitStack() as held:
            connection = self.socket(ws) if ws and page else None
            if connection is not None:
                held.enter_context(connection)  # closed when the creator leaves the page
            if stay and page:
                self.stay(page, stay, events)
        return time.monotonic() < self.deadline

    def run(self) -> None:
        c, args = self.creator, self.args
        try:
            if not self.pause(self.random.uniform(0, args.think[1])):  # creators do not all arrive at once
                return
            self.get("/")  # signed in: the home page sends the creator to the dashboard
            while time.monotonic() < self.deadline:
                finished_generation = self.random.choice(c.finished_generations)
                # (page, seconds there, events arriving meanwhile, its websocket)
                round_: list[tuple[str, float, tuple[str, ...], str]] = [
                    ("/dashboard/", 0, (), ""),
                    (f"/runs/{c.active_run}/", args.run_stay, ("run:checkpoint", "run:sample"),
                     f"/ws/runs/{c.active_run}/?after={EVENTS}"),
                    (f"/runs/{c.finished_run}/", 0, (), f"/ws/runs/{c.finished_run}/?after={EVENTS}"),
                    ("/studio/", 0, (), ""),
                    (f"/studio/generations/{c.active_generation}/", args.gen_stay, (),
                     f"/ws/generations/{c.active_generation}/"),
                    (f"/studio/generations/{finished_generation}/", 0, (), ""),
                ]
                for path, stay, events, ws in round_:
                    if not self.visit(path, stay, events, ws) or not self.think():
                        return
        except Exception as error:  # reported with the results
            self.errors.append(f"creator {c.index}: {type(error).__name__}: {error}")
        finally:
            if self.connection is not None:
                self.connection.close()


def triggers_in(html: str) -> dict[str, str]:
    """hx-get URL → hx-trigger of every element in `html` that has both."""
    found = {}
    for tag in TAG.finditer(html):
        attributes = dict(ATTRIBUTE.findall(tag.group(0)))
        if "hx-get" in attributes and "hx-trigger" in attributes:
            found[attributes["hx-get"].replace("&amp;", "&")] = attributes["hx-trigger"]
    return found


def _parts(trigger: str) -> list[str]:
    return [part.strip() for part in trigger.split(",") if part.strip()]


def every_of(trigger: str) -> float | None:
    """Seconds of an `every Ns` trigger (without a filter), else None."""
    for part in _parts(trigger):
        match = EVERY_TRIGGER.match(part)
        if match:
            value = float(match.group(1))
            return value / 1000 if match.group(2) == "ms" else value
    return None


def listens(trigger: str, event: str) -> bool:
    return any(part.split()[0] == event for part in _parts(trigger))


def alone(creator: Creator, port: int, args: argparse.Namespace, repeat: int = 10) -> dict[str, float]:
    """Each page and part requested `repeat` times by one creator, one at a time, before the load: the time the
    server takes for it with nothing else to do (median ms)."""
    browser = Browser(creator, port, args, math.inf, [], threading.Lock(), seed=0)
    c = creator
    paths = {
        "dashboard": ("/dashboard/", False),
        "run page (training)": (f"/runs/{c.active_run}/", False),
        "run page (finished)": (f"/runs/{c.finished_run}/", False),
        **{f"run part: {part}": (f"/runs/{c.active_run}/part/{part}/", True)
           for part in ("status", "checkpoints", "samples", "delete")},
        "studio page": ("/studio/", False),
        "generation page": (f"/studio/generations/{c.active_generation}/", False),
        "generation part: status": (f"/studio/generations/{c.active_generation}/status/", True),
    }
    medians = {}
    for name, (path, htmx) in paths.items():
        for _ in range(2):  # warm
            browser.get(path, htmx)
        del browser.results[:]
        for _ in range(repeat):
            browser.get(path, htmx)
        medians[name] = round(percentile([r.seconds * 1000 for r in browser.results], 0.5), 1)
    if browser.errors:
        raise RuntimeError("The pages did not answer: " + "; ".join(browser.errors[:5]))
    print("\nOne creator alone, one request at a time (median of 10, ms): "
          + ", ".join(f"{name} {ms}" for name, ms in medians.items()), flush=True)
    return medians


def measure(creators: list[Creator], port: int, args: argparse.Namespace, cpu: CpuMeter
            ) -> tuple[list[Result], list[str], float, dict[str, float]]:
    results: list[Result] = []
    lock = threading.Lock()
    cpu.start = cpu._read()
    started = time.monotonic()
    deadline = started + args.seconds
    browsers = [Browser(c, port, args, deadline, results, lock, seed=args.seed * 1000 + c.index) for c in creators]
    threads = [threading.Thread(target=b.run, name=f"creator-{b.creator.index}", daemon=True) for b in browsers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline + 90 - time.monotonic()))  # a request in flight at the end may finish
    cores = cpu.summary()
    errors = [error for b in browsers for error in b.errors]
    stuck = [t.name for t in threads if t.is_alive()]
    if stuck:
        errors.append(f"{len(stuck)} creators still waiting for an answer at the end")
    return results, errors, time.monotonic() - started, cores


def report(results: list[Result], errors: list[str], seconds: float, args: argparse.Namespace) -> dict[str, Any]:
    by_kind: dict[str, list[float]] = defaultdict(list)
    for result in results:
        by_kind[result.kind].append(result.seconds * 1000)
    http_ms = [r.seconds * 1000 for r in results if r.kind != "websocket connect"]
    rows = []
    known = [k for _, k in KINDS] + ["websocket connect"]
    for kind in [*known, *sorted(k for k in by_kind if k not in known)]:
        if kind in by_kind:
            rows.append((kind, by_kind[kind]))
    if http_ms:
        rows.append(("all HTTP requests", http_ms))
    print(f"\n{len(http_ms)} HTTP requests in {seconds:.0f} s ({len(http_ms) / seconds:.1f}/s), "
          f"{len(errors)} errors\n")
    print("| request | n | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|")
    table = {}
    for kind, ms in rows:
        table[kind] = {"n": len(ms), "p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95),
                       "p99": percentile(ms, 0.99), "max": max(ms)}
        name = f"**{kind}**" if kind == "all HTTP requests" else kind
        print(f"| {name} | {len(ms)} | {table[kind]['p50']:.1f} | {table[kind]['p95']:.1f} | "
              f"{table[kind]['p99']:.1f} | {table[kind]['max']:.1f} |")
    for error in errors[:20]:
        print("error:", error)
    if len(errors) > 20:
        print(f"… and {len(errors) - 20} more errors")
    return {"table": table, "errors": errors, "seconds": seconds, "requests": len(http_ms)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--creators", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the creators go round (default 60)")
    parser.add_argument("--training", action="store_true", help="a real training runs on a worker meanwhile")
    parser.add_argument("--think", type=float, nargs=2, default=(1.0, 3.0), metavar=("MIN", "MAX"),
                        help="seconds a creator pauses between pages (uniform, default 1 3)")
    parser.add_argument("--run-stay", type=float, default=12.0, help="seconds on the run still training")
    parser.add_argument("--gen-stay", type=float, default=12.0, help="seconds on the generation being made")
    parser.add_argument("--no-sockets", action="store_true", help="do not open the pages' websockets")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data folder (its path is printed)")
    args = parser.parse_args()
    if not 1 <= args.creators <= 500 or not 1 <= args.seconds <= 1800:
        parser.error("--creators 1..500, --seconds 1..1800")

    data_dir = Path(tempfile.mkdtemp(prefix="iclora-web-load-"))
    for name in DROPPED_ENV:
        os.environ.pop(name, None)
    os.environ.update(ICLORA_DATA_DIR=str(data_dir), DJANGO_SETTINGS_MODULE="config.settings", MODEL_PRESET="tiny")
    env = dict(os.environ)
    processes = Processes()

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(machine(), flush=True)
    training_run: int | None = None
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from config.redis import wait_until_ready
        from config.stack import programs

        call_command("migrate", verbosity=0)
        port = free_port()
        redis_endpoint = settings.REDIS
        from config.redis import embedded_command

        assert redis_endpoint.socket_path is not None  # REDIS_URL was dropped: the embedded one
        redis_command = embedded_command(redis_endpoint.socket_path, Path(settings.DATA_DIR) / "redis")
        commands = {name: command for name, command, _ in programs(settings, port, redis_command)}
        logs = data_dir / "logs"
        logs.mkdir()
        processes.start("redis", commands["redis"], env, logs / "redis.log")
        wait_until_ready(redis_endpoint, timeout=30)
        started = time.monotonic()
        creators = make_creators(args.creators)
        print(f"{args.creators} creators made in {time.monotonic() - started:.0f} s; database {connection.vendor}, "
              f"{redis_endpoint.describe()}", flush=True)
        if args.training:
            processes.start("worker", commands["worker"], env, logs / "worker.log")
            training_run = start_training(data_dir / "clips")
        connection.close()
        processes.start("web", commands["web"], env, logs / "web.log")
        wait_http(port, 60)
        if training_run is not None:
            speed = wait_training(training_run, 600)
            print(f"Training run {training_run} is training on the worker ({speed:.1f} steps/s).", flush=True)
        print(f"{args.creators} creators for {args.seconds:.0f} s on http://127.0.0.1:{port}/"
              f"{' with a training running' if training_run else ''}…", flush=True)
        single = alone(creators[0], port, args)
        pids = {name: process.pid for name, process in processes.started}
        results, errors, seconds, cores = measure(creators, port, args, CpuMeter(pids))
        if training_run is not None:
            from training.models import TrainingRun

            run = TrainingRun.objects.get(pk=training_run)
            if run.state != TrainingRun.State.TRAINING:
                errors.append(f"the training was {run.state} at the end ({run.state_reason})")
            else:
                print(f"The training was at step {run.step} at the end.")
        figures = report(results, errors, seconds, args)
        print("\nCPU during the measurement, in cores used on average (of "
              f"{os.cpu_count()}): " + ", ".join(f"{name} {value:.2f}" for name, value in cores.items()))
        figures["cores"] = cores
        figures["alone"] = single
        if args.json:
            figures.update(machine=machine(), args={k: str(v) for k, v in vars(args).items()})
            args.json.write_text(json.dumps(figures, indent=2))
        return 1 if errors else 0
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return 130
    finally:
        if training_run is not None:  # asked to stop first, so the worker's warm shutdown is quick
            with contextlib.suppress(Exception):
                from training.models import TrainingRun
                from training.runs import request_cancel

                request_cancel(TrainingRun.objects.get(pk=training_run))
        processes.stop_all()
        if args.keep:
            print(f"Data folder kept: {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
