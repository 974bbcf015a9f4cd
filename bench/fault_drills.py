"""Fault drills for the job lifecycle: kill, restart and freeze the processes of `make run` while a training run,
a Studio generation and an extraction are under way, and measure how each job comes through.

    .venv/bin/python bench/fault_drills.py                       # all five faults, production timings
    .venv/bin/python bench/fault_drills.py --faults child web --stop-seconds 60

It starts `python -m config.stack` (supervisord: embedded Redis, worker, beat, watchdog, web) on a fresh data
folder with MODEL_PRESET=tiny, SQLite and the production timings (WORKER_HEARTBEAT_SECONDS 10, WORKER_STALE_SECONDS
45, WATCHDOG_SECONDS 5; flags override them), after `manage.py migrate`. This process uses the same data folder, so
it reads the same database and sends to the same Redis: it makes its jobs with the services the web app calls
(`launch_run`, `create_generation`, `request_extraction`) and watches them in the database every 0.5 s.

A warm-up round (one short job of each kind) builds the tiny model, warms the worker's pool processes and measures
their speed on this machine; the drill's jobs are then sized from it (--train-seconds, --gen-seconds,
--extract-seconds of work each). Then, for each fault, on fresh jobs:
  child    kill -9 the worker's pool process that runs the training (found with `celery inspect active`)
  worker   kill -9 the worker's main process (its pool processes are orphaned, not killed)
  redis    kill -9 Redis (supervisord starts it again; its append-only file keeps the queues)
  web      kill -9 the web server
  sigstop  SIGSTOP the worker's whole process group for --stop-seconds (120), then SIGCONT

The stack's worker has two pool processes (`--concurrency 2`), so two of the three jobs are held at the fault and
the third waits in the queue: the training, and the generation or the extraction by turns (SECOND_HELD).

For each job: truth = seconds from the fault (its start, for sigstop) until the database says what happened to
it (its lease changed hands: requeued or taken over; 0 when its holder kept going); resumed = seconds from the
fault's end until it is held again and has moved forward, or has finished; work redone (training: steps between
the last step reported before the loss and the checkpoint it resumed from); attempts and losses; its final state;
and anything lost (not finished, a loss point missing, no output, stuck past --settle-seconds). The table is
printed and written, with the raw timelines, to --out (default: the data folder's `drill/`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import xmlrpc.client
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FAULTS = ("child", "worker", "redis", "web", "sigstop")
# The job held beside the training at each fault (the worker has two pool processes); the third one waits.
SECOND_HELD = {"child": "generation", "worker": "extraction", "redis": "generation", "web": "extraction",
               "sigstop": "generation"}
KINDS = ("training", "generation", "extraction")
POLL_SECONDS = 0.5
# Environment the stack must not inherit: it runs on its embedded defaults (SQLite and Redis in the data folder).
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_ALLOW_ASYNC_UNSAFE", "SECRET_KEY",
               "WORKER_HEARTBEAT_SECONDS", "WORKER_STALE_SECONDS", "WATCHDOG_SECONDS", "TINY_MODEL_DIR")
LOG_PATTERNS = re.compile(r"lost its worker|taking it over|sent back to the queue|no longer held|went silent|"
                          r"Traceback|Unrecoverable|WorkerLostError|exited: |CRITICAL|ERROR", re.IGNORECASE)
TRIGGER = "RESTORE"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- processes


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, ...]; None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def start_time(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[19]) if fields else 0


def cpu_ticks(pid: int) -> int:
    fields = _stat(pid)
    return int(fields[11]) + int(fields[12]) if fields else 0


def children(pid: int) -> list[int]:
    found: list[int] = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in path.read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    found, todo = [], children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += children(child)
    return found


class Stack:
    """`python -m config.stack` on its own data folder: started, asked about its processes, stopped."""

    def __init__(self, data_dir: Path, env: dict[str, str], port: int) -> None:
        self.data_dir, self.env, self.port = data_dir, env, port
        self.log_path = data_dir / "stack.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.frozen_group: int | None = None
        self.seen: dict[int, int] = {}  # every pid of the stack seen, with its start time (never kill a reused pid)
        self._rpc: Any = None

    def start(self) -> None:
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=self.env,
                       check=True)
        with self.log_path.open("wb") as log:
            # Its own session: a Ctrl-C here reaches the drill, which then stops the stack once, in order.
            self.process = subprocess.Popen([sys.executable, "-m", "config.stack"], cwd=ROOT, env=self.env,
                                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rpc(self) -> Any:
        if self._rpc is None:
            from supervisor.xmlrpc import SupervisorTransport

            transport = SupervisorTransport(None, None, f"unix://{self.data_dir / 'run' / 'supervisor.sock'}")
            self._rpc = xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)
        return self._rpc

    def pid(self, program: str) -> int:
        """What `supervisorctl pid PROGRAM` says (0 while it is not running), through supervisord's own socket."""
        try:
            return int(self.rpc().supervisor.getProcessInfo(program)["pid"])
        except (OSError, xmlrpc.client.Fault, xmlrpc.client.ProtocolError):
            self._rpc = None
            return 0

    def web_answers(self) -> bool:
        """Whether /healthz answers at all (200, or 503 while a check fails: the page is served either way)."""
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                return bool(response.status)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def remember(self) -> None:
        """Note every process of the stack now running, so none outlives the drill (orphaned pool processes
        are in no supervised group any more)."""
        if self.process is None:
            return
        for pid in [self.process.pid, *descendants(self.process.pid)]:
            self.seen.setdefault(pid, start_time(pid))

    def log_offset(self) -> int:
        return self.log_path.stat().st_size if self.log_path.exists() else 0

    def log_since(self, offset: int) -> str:
        with self.log_path.open("rb") as handle:
            handle.seek(offset)
            return handle.read().decode(errors="replace")

    def stop(self) -> list[int]:
        """Ctrl-C the stack and wait; then end, by pid, whatever of it is left. Returns the pids that were left."""
        if self.frozen_group is not None:
            with contextlib.suppress(OSError):
                os.killpg(self.frozen_group, signal.SIGCONT)
            self.frozen_group = None
        if self.process is None:
            return []
        self.remember()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(150)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        pidfile = self.data_dir / "run" / "supervisord.pid"
        with contextlib.suppress(OSError, ValueError):
            supervisord = int(pidfile.read_text().strip())
            if alive(supervisord) and "supervisord" in Path(f"/proc/{supervisord}/cmdline").read_text():
                os.kill(supervisord, signal.SIGTERM)
                deadline = time.monotonic() + 60
                while alive(supervisord) and time.monotonic() < deadline:
                    time.sleep(0.5)
        left = [pid for pid, started in self.seen.items() if alive(pid) and start_time(pid) == started]
        for pid in left:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return left


def stack_env(data_dir: Path, port: int, args: argparse.Namespace) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in DROPPED_ENV}
    env.update(ICLORA_DATA_DIR=str(data_dir), PORT=str(port), MODEL_PRESET="tiny",
               DJANGO_SETTINGS_MODULE="config.settings")
    for name, value in (("WORKER_HEARTBEAT_SECONDS", args.heartbeat), ("WORKER_STALE_SECONDS", args.stale),
                        ("WATCHDOG_SECONDS", args.watchdog)):
        if value is not None:
            env[name] = str(value)
    return env


# --- the jobs


@dataclass
class Fixtures:
    user: Any
    dataset: Any
    adapter: Any
    reference: bytes
    folder: Path


@dataclass
class Sizes:
    train_steps: int
    checkpoint_every: int
    gen_steps: int
    gen_frames: int
    gen_width: int
    gen_height: int
    clip_seconds: float
    clip_width: int
    clip_height: int
    measured: dict[str, float] = field(default_factory=dict)


def make_fixtures(folder: Path, args: argparse.Namespace) -> Fixtures:
    """A creator, a ready dataset of synthetic restoration pairs, a random IC-LoRA for the tiny model and a
    reference clip for the Studio."""
    import torch
    from django.core.files.base import ContentFile
    from django.core.management import call_command
    from safetensors.torch import save

    from accounts.models import User
    from engine.synthetic import make_clip
    from studio.adapters import base_transformer_skeleton
    from studio.models import Adapter
    from tests.factories import make_ready_dataset  # the tests' pairs; needs Django set up, as above

    folder.mkdir(parents=True, exist_ok=True)
    call_command("ensure_tiny_model")
    user = User.objects.create_user(username="drill", email="drill@example.com", password=os.urandom(16).hex(),
                                     max_concurrent_runs=20)
    # The tests' ready pairs: real generated restoration pairs, checked OK.
    dataset = make_ready_dataset(user, folder, args.pairs, name="Drill pairs", trigger_phrase=TRIGGER)

    # A random LoRA on the tiny transformer's attention and feed-forward layers (ComfyUI key form, bf16).
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for i, block in enumerate(base_transformer_skeleton().transformer_blocks):
        for name in ("attn1.to_q", "attn1.to_v", "ff.net.2"):
            layer = block.get_submodule(name)
            key = f"diffusion_model.transformer_blocks.{i}.{name}"
            tensors[f"{key}.lora_A.weight"] = (torch.randn(4, layer.in_features, generator=generator) * 0.2).bfloat16()
            tensors[f"{key}.lora_B.weight"] = (torch.randn(layer.out_features, 4, generator=generator) * 0.2
                                               ).bfloat16()
    adapter = Adapter(owner=user, name="Random restore", source="uploaded", trigger_phrase=TRIGGER, rank=4)
    adapter.file.save("random.safetensors", ContentFile(save(tensors, metadata={"trigger": TRIGGER})), save=False)
    adapter.save()
    seconds = args.gen_frames / 24 + 0.5
    reference = make_clip(folder / "reference.mp4", seed=3, width=args.gen_width, height=args.gen_height,
                          seconds=seconds).read_bytes()
    return Fixtures(user, dataset, adapter, reference, folder)


def start_training(fx: Fixtures, steps: int, every: int, name: str) -> int:
    from training.models import TrainingRun
    from training.runs import launch_run

    config: dict[str, Any] = {
        "bucket": {"width": 128, "height": 96, "frames": 9, "fps": 24},
        "lora": {"rank": 4},
        "optim": {"steps": steps},
        "checkpoint": {"every": every, "keep": 2},
        "validation": {"every": 0},
        "data": {"max_sequence_length": 32},
    }
    run = TrainingRun.objects.create(owner=fx.user, dataset=fx.dataset, name=name, recipe="restoration",
                                     config=config, total_steps=steps)
    launch_run(run)
    return int(run.pk)


def start_generation(fx: Fixtures, sizes: Sizes, steps: int) -> int:
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.forms import GenerationForm
    from studio.generation import create_generation

    fields = {"prompt": f"{TRIGGER} a clean sunny street", "num_frames": str(sizes.gen_frames),
            "width": str(sizes.gen_width), "height": str(sizes.gen_height), "num_inference_steps": str(steps),
            "seed": "5", "attention_strength": "1", "adapter_scale": "1", "mask_preset": "whole", "frame_rate": "24"}
    upload = SimpleUploadedFile("reference.mp4", fx.reference, content_type="video/mp4")
    form = GenerationForm(fields)
    assert form.is_valid(), form.errors
    return int(create_generation(fx.user, fx.adapter, form.cleaned_data, upload).pk)


def extraction_clip(fx: Fixtures, sizes: Sizes, seed: int) -> Path:
    """A clip of its own for each extraction: a finished extraction of the same content would be reused."""
    from engine.synthetic import make_clip

    # Seeds 1, 7, 13… all draw ffmpeg's testsrc2 (cheap to make, full of edges), each in another hue.
    return make_clip(fx.folder / f"edges_{seed}.mp4", seed=1 + 6 * seed, width=sizes.clip_width,
                     height=sizes.clip_height, seconds=sizes.clip_seconds)


def start_extraction(fx: Fixtures, path: Path) -> int:
    """Edges (canny) of the clip at `path`, as the Studio's controls page asks for them."""
    from django.core.files import File

    from prep.services import request_extraction

    data = path.read_bytes()
    with path.open("rb") as handle:
        extraction = request_extraction(fx.user, "canny", {}, File(handle, name=path.name), path.name,
                                        hashlib.sha256(data).hexdigest(), owns_source=True)
    return int(extraction.pk)


def model_of(kind: str) -> Any:
    from prep.models import Extraction
    from studio.models import Generation
    from training.models import TrainingRun

    return {"training": TrainingRun, "generation": Generation, "extraction": Extraction}[kind]


@dataclass
class Snapshot:
    t: float  # seconds since the fault started
    state: str
    held: bool
    final: bool
    lease: int
    attempts: int
    losses: int
    metric: float  # training: step; generation: progress (0…1); extraction: frames done
    moved_at: datetime | None  # when it last moved forward (training: its last progress event)
    claimed_at: datetime | None
    sent_at: datetime | None
    worker: str
    reason: str


def snapshot(kind: str, pk: int, t: float) -> Snapshot:
    from training.models import RunEvent

    job = model_of(kind).objects.get(pk=pk)
    if kind == "training":
        metric = float(job.step)
        moved_at = (RunEvent.objects.filter(run_id=pk, kind=RunEvent.Kind.PROGRESS).order_by("-seq")
                    .values_list("created_at", flat=True).first())
    else:
        metric = float(job.progress if kind == "generation" else job.frames_done)
        moved_at = job.progress_at
    return Snapshot(t=t, state=job.state, held=job.is_held, final=job.state in job.FINAL_STATES, lease=job.lease,
                    attempts=job.attempts, losses=job.losses, metric=metric, moved_at=moved_at,
                    claimed_at=job.claimed_at, sent_at=job.sent_at, worker=job.worker,
                    reason=job.state_reason or job.error_message)


def moving(snap: Snapshot, since: datetime) -> bool:
    """Held, and moved forward since `since` under its current holder."""
    if not snap.held or snap.moved_at is None:
        return False
    return snap.moved_at > since and (snap.claimed_at is None or snap.moved_at > snap.claimed_at)


@dataclass
class Watched:
    kind: str
    pk: int
    snaps: list[Snapshot] = field(default_factory=list)

    def poll(self, t: float) -> Snapshot | None:
        from django.db import OperationalError, close_old_connections

        try:
            snap = snapshot(self.kind, self.pk, t)
        except OperationalError:  # the database busy for a moment: the next poll reads it
            close_old_connections()
            return None
        self.snaps.append(snap)
        return snap

    @property
    def last(self) -> Snapshot:
        return self.snaps[-1]


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(POLL_SECONDS)
    return condition()


def ended_ok(snap: Snapshot) -> bool:
    return snap.state in ("succeeded", "done")


# --- warm-up: build, warm and measure


def warm_up(fx: Fixtures, args: argparse.Namespace) -> Sizes:
    """One short job of each kind at once (two held, one waiting): builds what the worker builds once, and
    measures seconds per training step, per generation step and extraction frames per second on this machine."""
    from prep.models import Extraction
    from studio.models import Generation
    from training.models import RunMetric

    probe = Sizes(train_steps=args.warm_steps, checkpoint_every=10, gen_steps=args.warm_gen_steps,
                  gen_frames=args.gen_frames, gen_width=args.gen_width, gen_height=args.gen_height,
                  clip_seconds=args.warm_clip_seconds, clip_width=args.clip_width, clip_height=args.clip_height)
    clip = extraction_clip(fx, probe, 0)
    started = time.monotonic()
    jobs = [Watched("training", start_training(fx, probe.train_steps, 10, "Warm-up")),
            Watched("generation", start_generation(fx, probe, probe.gen_steps)),
            Watched("extraction", start_extraction(fx, clip))]
    progress_points: list[tuple[float, float]] = []
    deadline = time.monotonic() + args.settle_seconds * 2
    while time.monotonic() < deadline:
        snaps = [job.poll(time.monotonic() - started) for job in jobs]
        gen = snaps[1]
        moved = gen is not None and gen.held and 0 < gen.metric < 0.97
        if gen is not None and moved and (not progress_points or progress_points[-1][1] != gen.metric):
            progress_points.append((time.monotonic(), gen.metric))
        if all(job.snaps and job.last.final for job in jobs):
            break
        time.sleep(POLL_SECONDS)
    not_ok = [f"{job.kind} {job.last.state}: {job.last.reason}" for job in jobs if not ended_ok(job.last)]
    if not_ok:
        raise RuntimeError("The warm-up jobs did not all finish: " + "; ".join(not_ok))
    print(f"Warm-up done in {time.monotonic() - started:.0f} s.", flush=True)

    created = list(RunMetric.objects.filter(run_id=jobs[0].pk).order_by("step").values_list("created_at", flat=True))
    train_step = (created[-1] - created[0]).total_seconds() / max(1, len(created) - 1)
    generation = Generation.objects.get(pk=jobs[1].pk)
    if len(progress_points) >= 2:
        (t0, p0), (t1, p1) = progress_points[0], progress_points[-1]
        gen_step = (t1 - t0) / max(1e-9, (p1 - p0) / 0.97 * probe.gen_steps)
    else:  # too quick to see it move: the whole generation, loading and decoding included
        assert generation.started_at is not None and generation.finished_at is not None
        gen_step = (generation.finished_at - generation.started_at).total_seconds() / probe.gen_steps
    extraction = Extraction.objects.get(pk=jobs[2].pk)
    assert extraction.started_at is not None and extraction.finished_at is not None
    frames = int(extraction.report.get("frames", 0)) or extraction.frames_total
    extract_fps = frames / max(0.1, (extraction.finished_at - extraction.started_at).total_seconds())

    every = args.checkpoint_every
    steps = args.steps or max(4 * every, math.ceil(args.train_seconds / train_step / every) * every)
    gen_steps = args.gen_steps or max(10, min(100, math.ceil(args.gen_seconds / gen_step)))
    if gen_steps * gen_step < args.gen_seconds / 2:
        print(f"Warning: {gen_steps} generation steps take about {gen_steps * gen_step:.0f} s here; a larger "
              "--gen-width/--gen-height/--gen-frames would keep the generation going longer.", flush=True)
    clip_seconds = args.clip_seconds or max(2.0, round(args.extract_seconds * extract_fps / 24, 1))
    return Sizes(train_steps=steps, checkpoint_every=every, gen_steps=gen_steps, gen_frames=args.gen_frames,
                 gen_width=args.gen_width, gen_height=args.gen_height, clip_seconds=clip_seconds,
                 clip_width=args.clip_width, clip_height=args.clip_height,
                 measured={"train_s_per_step": round(train_step, 3), "gen_s_per_step": round(gen_step, 3),
                           "extract_fps": round(extract_fps, 1)})


# --- one fault


@dataclass
class JobResult:
    kind: str
    pk: int
    at_fault: str  # held | queued
    truth_s: float | None
    resumed_s: float | None
    started_s: float | None  # a job queued at the fault: when it started moving, from the fault's end
    redone: str
    attempts: str
    losses: int
    final: str
    lost: list[str]


@dataclass
class FaultResult:
    fault: str
    fault_seconds: float
    notes: list[str]
    jobs: list[JobResult]
    log_lines: list[str]
    timelines: dict[str, list[dict[str, Any]]]


class FaultRound:
    """Fresh jobs, the fault, and the watching until every job has ended (or --settle-seconds have passed)."""

    def __init__(self, fault: str, index: int, stack: Stack, fx: Fixtures, sizes: Sizes,
                 args: argparse.Namespace) -> None:
        self.fault, self.index, self.stack, self.fx, self.sizes, self.args = fault, index, stack, fx, sizes, args
        self.jobs: dict[str, Watched] = {}
        self.origin = 0.0  # monotonic time of the fault
        self.origin_wall: datetime | None = None
        self.end_t = 0.0  # the fault's end, in seconds after its start
        self.end_wall: datetime | None = None
        self.notes: list[str] = []
        # What a fault still waits to see (a process back, orphans gone): name → check, removed once seen.
        self.watchers: dict[str, Callable[[float], bool]] = {}
        self.target = 0  # the process the fault hits, found before it starts
        self.clip: Path | None = None

    def t(self) -> float:
        return time.monotonic() - self.origin if self.origin else 0.0

    def poll(self) -> None:
        t = self.t()
        for job in self.jobs.values():
            job.poll(t)
        for name, seen in list(self.watchers.items()):
            if seen(t):
                del self.watchers[name]

    def start(self, kind: str) -> Watched:
        if kind == "training":
            pk = start_training(self.fx, self.sizes.train_steps, self.sizes.checkpoint_every, f"Drill {self.fault}")
        elif kind == "generation":
            pk = start_generation(self.fx, self.sizes, self.sizes.gen_steps)
        else:
            assert self.clip is not None
            pk = start_extraction(self.fx, self.clip)
        self.jobs[kind] = Watched(kind, pk)
        return self.jobs[kind]

    def wait_moving(self, job: Watched, timeout: float, at_least: float = 0.0) -> bool:
        from django.utils import timezone

        since = timezone.now()

        def ready() -> bool:
            self.poll()
            snap = job.last if job.snaps else None
            return snap is not None and snap.held and snap.metric >= at_least and moving(snap, since)

        return wait_for(ready, timeout)

    def run(self) -> FaultResult:
        from django.utils import timezone

        second = SECOND_HELD[self.fault]
        third = next(kind for kind in ("generation", "extraction") if kind != second)
        self.clip = extraction_clip(self.fx, self.sizes, self.index + 1)
        training = self.start("training")
        # Past its first checkpoint, so a resumption has one to start from.
        if not self.wait_moving(training, self.args.setup_seconds, at_least=self.sizes.checkpoint_every + 2):
            self.notes.append("setup: the training did not get past its first checkpoint in time")
        if not self.wait_moving(self.start(second), self.args.setup_seconds):
            self.notes.append(f"setup: the {second} did not start moving in time")
        self.start(third)
        time.sleep(2)
        self.stack.remember()
        log_offset = self.stack.log_offset()
        if self.fault == "child":
            self.target, how = self.training_child(self.stack.pid("worker"), self.jobs["training"])
            self.notes.append(f"the pool process running the training: {self.target} ({how})")

        for job in self.jobs.values():
            job.snaps.clear()  # the timelines start at the fault
        self.origin, self.origin_wall = time.monotonic(), timezone.now()
        self.poll()
        getattr(self, f"fault_{self.fault}")()
        self.end_t, self.end_wall = self.t(), timezone.now()
        deadline = self.end_t + self.args.settle_seconds
        while self.t() < deadline and not all(job.last.final for job in self.jobs.values() if job.snaps):
            time.sleep(POLL_SECONDS)
            self.poll()
        deadline = self.t() + 30
        while self.watchers and self.t() < deadline:  # what a fault's own watchers still wait to see
            time.sleep(POLL_SECONDS)
            self.poll()
        self.notes += [f"not seen by the end: {name}" for name in self.watchers]
        stuck = [job for job in self.jobs.values() if not job.last.final]
        if stuck:
            self.clean_up(stuck)
        log_lines = [line for line in self.stack.log_since(log_offset).splitlines() if LOG_PATTERNS.search(line)]
        return FaultResult(
            fault=self.fault, fault_seconds=round(self.end_t, 1), notes=self.notes,
            jobs=[self.result(self.jobs[kind], stuck=self.jobs[kind] in stuck) for kind in KINDS],
            log_lines=log_lines[:60],
            timelines={kind: [_plain(asdict(snap)) for snap in job.snaps] for kind, job in self.jobs.items()},
        )

    def clean_up(self, stuck: list[Watched]) -> None:
        """Stop what is stuck, so the next fault starts on a free worker."""
        from jobs.lifecycle import request_stop

        for job in stuck:
            self.notes.append(f"{job.kind} {job.pk} stuck after {self.args.settle_seconds} s: {job.last.state} "
                              f"({job.last.reason[:120]}); stopped by the drill")
            with contextlib.suppress(Exception):
                request_stop(model_of(job.kind), job.pk)
        wait_for(lambda: all(snapshot(job.kind, job.pk, 0).final for job in stuck), 90)

    # --- the faults

    def fault_child(self) -> None:
        if not self.target:
            self.notes.append("no pool process found for the training: nothing killed")
            return
        os.kill(self.target, signal.SIGKILL)
        worker = self.stack.pid("worker")
        self.notes.append(f"killed pool process {self.target} of worker {worker}")

        def replaced(t: float) -> bool:
            fresh = [pid for pid in children(worker) if pid != self.target]
            if len(fresh) >= 2:
                self.notes.append(f"the worker had two pool processes again after {t:.1f} s")
                return True
            return False

        self.watchers["a new pool process"] = replaced

    def training_child(self, worker: int, training: Watched) -> tuple[int, str]:
        """The pool process running the training: from `celery inspect active` (task id → worker_pid), else the
        busiest pool process."""
        from config.celery import app
        from training.models import TrainingRun

        task_id = TrainingRun.objects.get(pk=training.pk).task_id
        pool = children(worker)
        for _ in range(3):
            try:
                active = app.control.inspect(timeout=3).active() or {}
            except Exception:  # the broker or the worker slow to answer: ask again
                active = {}
            for tasks in active.values():
                for task in tasks:
                    if task.get("id") == task_id and int(task.get("worker_pid") or 0) in pool:
                        return int(task["worker_pid"]), "the one running its task, per `celery inspect active`"
        if not pool:
            return 0, ""
        return max(pool, key=cpu_ticks), "`celery inspect active` did not answer: the one with the most CPU time"

    def fault_worker(self) -> None:
        worker = self.stack.pid("worker")
        pool = {pid: start_time(pid) for pid in children(worker)}
        os.kill(worker, signal.SIGKILL)
        self.notes.append(f"killed worker main process {worker}; its {len(pool)} pool processes were left running")
        gone: dict[int, float] = {}

        def restarted(t: float) -> bool:
            if self.stack.pid("worker") not in (0, worker):
                self.notes.append(f"supervisord started a new worker after {t:.1f} s")
                return True
            return False

        def orphans_gone(t: float) -> bool:
            for pid, started in pool.items():
                if pid not in gone and not (alive(pid) and start_time(pid) == started):
                    gone[pid] = t
            if len(gone) == len(pool):
                self.notes.append("the orphaned pool processes exited after " +
                                  ", ".join(f"{gone[pid]:.1f} s" for pid in pool))
                return True
            return False

        self.watchers.update({"a new worker": restarted, "the orphaned pool processes exiting": orphans_gone})

    def fault_redis(self) -> None:
        from django.conf import settings

        redis = self.stack.pid("redis")
        os.kill(redis, signal.SIGKILL)
        self.notes.append(f"killed Redis ({redis})")

        def back(t: float) -> bool:
            try:
                answers = self.stack.pid("redis") not in (0, redis) and bool(settings.REDIS.client(timeout=0.5).ping())
            except Exception:  # still away
                answers = False
            if answers:
                self.notes.append(f"Redis answered again after {t:.1f} s")
            return answers

        self.watchers["Redis back"] = back

    def fault_web(self) -> None:
        web = self.stack.pid("web")
        os.kill(web, signal.SIGKILL)
        self.notes.append(f"killed the web server ({web})")

        def back(t: float) -> bool:
            if self.stack.pid("web") not in (0, web) and self.stack.web_answers():
                self.notes.append(f"the web server answered again after {t:.1f} s")
                return True
            return False

        self.watchers["the web server back"] = back

    def fault_sigstop(self) -> None:
        worker = self.stack.pid("worker")
        group = os.getpgid(worker)
        stack_group = os.getpgid(self.stack.process.pid) if self.stack.process else os.getpgrp()
        # supervisord puts each program in a group of its own; never stop ours or the stack's.
        if group != worker or group in (os.getpgrp(), stack_group):
            self.notes.append(f"the worker {worker} is not leading a process group of its own: nothing stopped")
            return
        members = [worker, *descendants(worker)]
        os.killpg(group, signal.SIGSTOP)
        self.stack.frozen_group = group
        self.notes.append(f"SIGSTOP to the worker's process group {group} ({len(members)} processes) for "
                          f"{self.args.stop_seconds} s")
        try:
            while self.t() < self.args.stop_seconds:
                time.sleep(POLL_SECONDS)
                self.poll()
        finally:
            os.killpg(group, signal.SIGCONT)
            self.stack.frozen_group = None

    # --- the figures

    def result(self, job: Watched, stuck: bool) -> JobResult:
        from training.models import RunEvent, RunMetric

        assert self.origin_wall is not None and self.end_wall is not None
        before = next((s for s in job.snaps if s.t >= 0), job.snaps[0])
        after = [s for s in job.snaps if s.t >= 0]
        final = job.last
        held = before.held

        truth: float | None = None
        if held:
            # A holder's own writes (progress, its end) never change the lease: a new lease means the database
            # noticed the loss (requeued, or taken over by a redelivered task) or a stop.
            changed = next((s for s in after if s.lease != before.lease), None)
            if changed is not None:
                truth = changed.t
            elif self._kept_going(job, before):
                truth = 0.0
        resumed: float | None = None
        started: float | None = None
        for snap in after:
            if snap.t < self.end_t:
                continue
            if ended_ok(snap) or moving(snap, self.end_wall):
                if held:
                    resumed = round(max(0.0, snap.t - self.end_t), 1)
                else:
                    started = round(max(0.0, snap.t - self.end_t), 1)
                break
            if snap.final:
                break

        redone = "0"
        lost_lease = [s for s in job.snaps if s.lease == before.lease]
        if held and any(s.lease != before.lease for s in after) and not ended_ok(lost_lease[-1]):
            last = max(s.metric for s in lost_lease)
            if job.kind == "training":
                payloads = RunEvent.objects.filter(run_id=job.pk, kind=RunEvent.Kind.STATE,
                                                   created_at__gt=self.origin_wall).order_by("seq")
                messages = [str(event.payload.get("message", "")) for event in payloads
                            if event.payload.get("state") == "training"]
                resumes = [int(m.group(1)) if (m := re.search(r"resumed at step (\d+)", text)) else 0
                           for text in messages]
                if resumes:
                    redone = f"{int(last) - resumes[0]} steps ({int(last)} → {resumes[0]})"
                    if len(resumes) > 1:
                        redone += f", resumed {len(resumes)} times"
                else:
                    redone = f"? (last step {int(last)}, no resumption seen)"
            elif job.kind == "generation":
                redone = f"{round(100 * min(1.0, last / 0.97))} % of its steps"
            else:
                redone = f"{int(last)} frames"

        lost: list[str] = []
        model = model_of(job.kind)
        row = model.objects.get(pk=job.pk)
        if stuck:
            lost.append(f"stuck: {final.state} after {self.args.settle_seconds} s")
        elif not ended_ok(final):
            lost.append(f"ended {final.state}: {final.reason[:160]}")
        elif job.kind == "training":
            points = RunMetric.objects.filter(run_id=job.pk).count()
            if points != row.total_steps:
                lost.append(f"{points}/{row.total_steps} loss points")
            if not row.adapters.exists():
                lost.append("no adapter")
        elif job.kind == "generation" and not row.output_file:
            lost.append("no video")
        elif job.kind == "extraction" and not (row.output and row.output.storage.exists(row.output.name)):
            lost.append("no output file")
        if row.sent_at is not None and row.sent_at > self.origin_wall:
            lost.append("its task was sent again by the watchdog (message lost)")
        return JobResult(kind=job.kind, pk=job.pk, at_fault="held" if held else "queued",
                         truth_s=None if truth is None else round(truth, 1), resumed_s=resumed, started_s=started,
                         redone=redone, attempts=f"{before.attempts}→{row.attempts}",
                         losses=row.losses - before.losses, final=final.state if not stuck else "stuck", lost=lost)

    def _kept_going(self, job: Watched, before: Snapshot) -> bool:
        """Its holder moved it forward after the fault's end (or finished it) under the lease it had."""
        assert self.end_wall is not None
        return any(s.lease == before.lease and (moving(s, self.end_wall) or ended_ok(s))
                   for s in job.snaps if s.t >= self.end_t)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value.isoformat() if isinstance(value, datetime) else value for key, value in values.items()}


# --- report


def seconds(value: float | None, missing: str = "never") -> str:
    return missing if value is None else f"{value:.1f}"


def table(results: list[FaultResult]) -> str:
    lines = ["| fault | job | at the fault | truth s | resumed s | work redone | attempts | losses | final | lost |",
             "|---|---|---|---:|---:|---|---|---:|---|---|"]
    for result in results:
        for job in result.jobs:
            if job.at_fault == "queued":
                truth, resumed = "—", f"(queued; ran at +{seconds(job.started_s)})"
            else:
                truth, resumed = seconds(job.truth_s), seconds(job.resumed_s)
            lines.append(f"| {result.fault} | {job.kind} | {job.at_fault} | {truth} | {resumed} | {job.redone} | "
                         f"{job.attempts} | {job.losses} | {job.final} | {'; '.join(job.lost) or 'nothing'} |")
    return "\n".join(lines)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "CPU")
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return (f"{platform.machine()}, `nproc` {nproc}, {cpu}, "
            f"Python {platform.python_version()}, load average before the drill "
            f"{os.getloadavg()[0]:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faults", nargs="+", choices=FAULTS, default=list(FAULTS))
    parser.add_argument("--heartbeat", type=int, help="WORKER_HEARTBEAT_SECONDS (default: the production 10)")
    parser.add_argument("--stale", type=int, help="WORKER_STALE_SECONDS (default: the production 45)")
    parser.add_argument("--watchdog", type=int, help="WATCHDOG_SECONDS (default: the production 5)")
    parser.add_argument("--stop-seconds", type=float, default=120.0, help="how long sigstop freezes the worker")
    parser.add_argument("--settle-seconds", type=float, default=300.0,
                        help="after a fault ends, how long its jobs may take to finish before they count as stuck")
    parser.add_argument("--setup-seconds", type=float, default=180.0, help="how long a fresh job may take to move")
    parser.add_argument("--budget-minutes", type=float, default=35.0, help="no new fault starts after this")
    parser.add_argument("--train-seconds", type=float, default=90.0, help="work in each drill training run")
    parser.add_argument("--gen-seconds", type=float, default=45.0, help="work in each drill generation")
    parser.add_argument("--extract-seconds", type=float, default=45.0, help="work in each drill extraction")
    parser.add_argument("--steps", type=int, help="training steps (default: sized from the warm-up)")
    parser.add_argument("--checkpoint-every", type=int, default=20)
    parser.add_argument("--gen-steps", type=int, help="generation steps, at most 100 (default: sized)")
    parser.add_argument("--gen-frames", type=int, default=49)
    parser.add_argument("--gen-width", type=int, default=320)
    parser.add_argument("--gen-height", type=int, default=256)
    parser.add_argument("--clip-seconds", type=float, help="extraction clip length (default: sized)")
    parser.add_argument("--clip-width", type=int, default=640)
    parser.add_argument("--clip-height", type=int, default=360)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--warm-steps", type=int, default=40)
    parser.add_argument("--warm-gen-steps", type=int, default=20)
    parser.add_argument("--warm-clip-seconds", type=float, default=4.0)
    parser.add_argument("--data-dir", type=Path, help="data folder (default: a new temporary one)")
    parser.add_argument("--out", type=Path, help="where results.json and results.md go (default: DATA/drill)")
    args = parser.parse_args()

    began = time.monotonic()
    load = machine()
    data_dir = (args.data_dir or Path(tempfile.mkdtemp(prefix="iclora-drill-"))).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    out = (args.out or data_dir / "drill").resolve()
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = stack_env(data_dir, port, args)
    for key in DROPPED_ENV:
        os.environ.pop(key, None)
    os.environ.update({key: env[key] for key in ("ICLORA_DATA_DIR", "PORT", "MODEL_PRESET", "DJANGO_SETTINGS_MODULE")})
    for key in ("WORKER_HEARTBEAT_SECONDS", "WORKER_STALE_SECONDS", "WATCHDOG_SECONDS"):
        if key in env:
            os.environ[key] = env[key]

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    stack = Stack(data_dir, env, port)
    results: list[FaultResult] = []
    settings_line = ""
    sizes: Sizes | None = None
    try:
        print(f"Data folder: {data_dir}\nStarting the stack on port {port}…", flush=True)
        stack.start()
        if not wait_for(stack.healthy, 180):
            raise RuntimeError("The stack did not become healthy:\n" + stack.log_since(0)[-3000:])
        import django

        django.setup()
        from django.conf import settings

        settings_line = (f"WORKER_HEARTBEAT_SECONDS={settings.WORKER_HEARTBEAT_SECONDS}, "
                         f"WORKER_STALE_SECONDS={settings.WORKER_STALE_SECONDS}, "
                         f"WATCHDOG_SECONDS={settings.WATCHDOG_SECONDS}, "
                         f"JOB_RECOVERY_MINUTES={settings.JOB_RECOVERY_MINUTES}, MODEL_PRESET={settings.MODEL_PRESET}, "
                         f"worker --concurrency 2, SQLite, embedded Redis (append-only file)")
        print(f"Settings: {settings_line}", flush=True)
        fx = make_fixtures(data_dir / "drill-media", args)
        sizes = warm_up(fx, args)
        print(f"Sizes: {sizes}", flush=True)
        for index, fault in enumerate(args.faults):
            if time.monotonic() - began > args.budget_minutes * 60:
                print(f"Out of time: {fault} not run.", flush=True)
                break
            print(f"\n== {fault} ({time.monotonic() - began:.0f} s into the drill)", flush=True)
            result = FaultRound(fault, index, stack, fx, sizes, args).run()
            results.append(result)
            print(table([result]), flush=True)
            for note in result.notes:
                print(f"  - {note}", flush=True)
    finally:
        left = stack.stop()
        if left:
            print(f"Processes of the stack still running after it stopped, killed: {left}", flush=True)
    command = " ".join([".venv/bin/python bench/fault_drills.py", *sys.argv[1:]])
    report = "\n".join([
        f"Command: `{command}`",
        f"Machine: {load}",
        f"Settings: {settings_line}",
        f"Jobs: {sizes}",
        f"Drill took {(time.monotonic() - began) / 60:.1f} min.",
        "",
        table(results),
        "",
        *[f"- {result.fault}: " + "; ".join(result.notes) for result in results],
    ])
    (out / "results.md").write_text(report + "\n")
    (out / "results.json").write_text(json.dumps({
        "machine": load, "settings": settings_line, "sizes": asdict(sizes) if sizes else None,
        "results": [asdict(result) for result in results],
    }, indent=1, default=str))
    print("\n" + report + f"\n\nWritten to {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
