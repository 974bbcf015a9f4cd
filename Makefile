# The two commands of the README: `make run` and `make test`. Everything else is set up by them.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Pose extraction runs MediaPipe in an interpreter of its own (numpy<2 and its own cv2; see deploy/pose-requirements.txt).
POSE_VENV := .venv-pose
POSE_STAMP := $(POSE_VENV)/.installed
LTX_CORE_STAMP := bench/.ltx-core/.installed
# On this kind of machine pip finds the CPU build on disk; elsewhere PyPI's build (CUDA on Linux x86_64).
TORCH_SPEC ?= torch==2.13.0
# The suite runs in parallel processes (pytest-xdist), each with its own data folder, database, Redis and worker
# (tests/environment.py): most tests wait on a subprocess, a browser or ffmpeg, so 2 processes on 2 cores finish in
# about half the time (docs/benchmarks.md). At most 4: each process starts its own services and builds its tiny model.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n < 2 ? 2 : n > 4 ? 4 : n )))
PIP_QUIET := 2>&1 | grep -v -e "is ignored: it is neither a file nor a directory" || true

.PHONY: help run test test-fast lint pytest smoke

help:
	@echo "make run   start ICLoRA Studio (web, worker, Redis) on http://127.0.0.1:$${PORT:-8000}"
	@echo "make test  run the checks and the whole test suite"
	@echo "make test-fast  the unit and view tests only: no browser, worker process, training or slow test (under 2 minutes)"
	@echo "make smoke  build the Docker images and walk the whole compose stack in a browser (docs/deploy.md; root on Debian"
	@echo "            starts a Docker engine of its own when none runs; SMOKE_ARGS= to use the registry's images)"

$(STAMP): pyproject.toml
	@deploy/system-packages.sh ffmpeg=ffmpeg ffprobe=ffmpeg
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ICLoRA Studio needs Python 3.11"'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || deploy/system-packages.sh __none__=python3-venv
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing Python packages into $(VENV) (the first time takes a few minutes)…"
	@$(PY) -m pip install -q --upgrade pip $(PIP_QUIET)
	@$(PY) -m pip install -q "$(TORCH_SPEC)" $(PIP_QUIET)
	@# setuptools explains editable installs at length on every install; the app runs from this folder anyway.
	@PYTHONWARNINGS="ignore:Editable installation" $(PY) -m pip install -q -e ".[dev]" $(PIP_QUIET)
	@$(PY) -c "import django, torch, diffusers, celery, channels" # fails loudly if an install step failed
	@touch $(STAMP)

$(POSE_STAMP): deploy/pose-requirements.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "ICLoRA Studio needs Python 3.11"'
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || deploy/system-packages.sh __none__=python3-venv
	@# opencv-contrib-python (a mediapipe requirement) loads libGL and GLib even without a display.
	@$(PYTHON) -c 'import ctypes.util as u, sys; sys.exit(not (u.find_library("GL") and u.find_library("gthread-2.0")))' \
		|| deploy/system-packages.sh __none__=libgl1 __none__=libglib2.0-0
	@test -x $(POSE_VENV)/bin/python || $(PYTHON) -m venv $(POSE_VENV)
	@echo "Installing pose extraction (MediaPipe) into $(POSE_VENV) (the first time takes a minute or two)…"
	@$(POSE_VENV)/bin/python -m pip install -q --upgrade pip $(PIP_QUIET)
	@$(POSE_VENV)/bin/python -m pip install -q -r deploy/pose-requirements.txt $(PIP_QUIET)
	@# Fails loudly if an install step failed; MediaPipe's own log lines are shown only then.
	@out=$$($(POSE_VENV)/bin/python -c "import cv2, mediapipe as mp; mp.solutions.pose.Pose(model_complexity=1).close()" 2>&1) \
		|| { echo "$$out" >&2; echo "The pose interpreter $(POSE_VENV) does not work." >&2; exit 1; }
	@touch $(POSE_STAMP)

# Lightricks' ltx-core, only for the test that compares our transformer with theirs and for bench/engine_gpu.py
# --ltx-core; without its dependencies, which pin a torchaudio this torch does not have.
$(LTX_CORE_STAMP): $(STAMP)
	@$(PY) -m pip install -q --no-deps --target bench/.ltx-core ltx-core==1.0.0 einops==0.8.2 $(PIP_QUIET)
	@touch $(LTX_CORE_STAMP)

run: $(STAMP) $(POSE_STAMP)
	@$(PY) -m config.stack --check
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py ensure_model
	@$(PY) -m config.stack

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports  # the import contracts in pyproject.toml

pytest: $(STAMP) $(POSE_STAMP) $(LTX_CORE_STAMP)
	@deploy/system-packages.sh chromium=chromium
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

test: lint pytest

test-fast: $(STAMP)
	$(VENV)/bin/pytest -n $(PYTEST_WORKERS) -m "not browser and not worker and not training and not slow" $(PYTEST_ARGS)

# The production deployment built and walked (deploy/smoke/run.sh); --offline builds the registry images' stand-ins.
SMOKE_ARGS ?= --offline
smoke:
	deploy/smoke/run.sh $(SMOKE_ARGS)
