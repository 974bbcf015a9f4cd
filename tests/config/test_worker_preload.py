"""A worker that takes gpu jobs imports the engine before its pool forks (config.celery), one on the cpu queue only
does not: checked in a fresh process that builds Celery's real worker (its `worker_init` runs; nothing is started)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
import django
django.setup()
from config.celery import app
app.WorkController(app=app, queues=sys.argv[1].split(","), pool_cls="solo", without_heartbeat=True)
print(json.dumps({name: name in sys.modules for name in ("torch", "diffusers", "engine.train", "engine.pipeline")}))
"""


def _imported_after_worker_init(queues: str, **env: str) -> dict[str, bool]:
    run = subprocess.run([sys.executable, "-c", PROBE, queues], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **env}, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("queues", ["gpu", "cpu,gpu"])
def test_a_worker_on_the_gpu_queue_has_the_engine_imported_before_its_pool_starts(queues: str) -> None:
    assert _imported_after_worker_init(queues) == {"torch": True, "diffusers": True, "engine.train": True,
                                                   "engine.pipeline": True}


def test_a_cpu_only_worker_and_a_worker_told_not_to_import_nothing_of_the_engine() -> None:
    nothing = {"torch": False, "diffusers": False, "engine.train": False, "engine.pipeline": False}
    assert _imported_after_worker_init("cpu") == nothing
    assert _imported_after_worker_init("gpu", WORKER_PRELOAD_ENGINE="false") == nothing
