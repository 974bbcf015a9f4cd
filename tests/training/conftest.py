"""Fixtures for the training engine tests: one tiny model per session, clips made with ffmpeg.

Nothing here needs network access or files outside the repository; ../shared/media is used only by the
optional real-footage tests, which skip with a reason when it is absent.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.bases import BASES
from engine.loader import load_pipeline
from engine.synthetic import make_clip, make_pairs
from engine.tiny_model import build_tiny_model

SHARED_MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
# Every base model a tiny model is built for (engine.bases): the engine tests that tell the bases apart run on each.
TINY_BASES = tuple(BASES)


def pytest_configure(config: pytest.Config) -> None:
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        raise pytest.UsageError("the training tests need the ffmpeg and ffprobe binaries (apt-get install ffmpeg)")


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """tiny_model_dirs(base) -> the tiny random pipeline of that base (ltx-2.3, ltx-2.5), built once per session on
    first use."""
    built: dict[str, Path] = {}

    def get(base: str) -> Path:
        if base not in built:
            built[base] = build_tiny_model(tmp_path_factory.mktemp(f"tiny-{base}") / "model", base=base)
        return built[base]

    return get


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model_dirs: Callable[[str], Path]) -> Path:
    """The tiny random LTX-2 pipeline (LTX-2.3's architecture), built once per test session."""
    return tiny_model_dirs("ltx-2.3")


@pytest.fixture
def load_tiny(tiny_model_dir: Path) -> Callable[[], Any]:
    """A fresh CPU fp32 pipeline per call (tests attach adapters, so they must not share one)."""
    return lambda: load_pipeline(tiny_model_dir, device="cpu")


@pytest.fixture(scope="session")
def clip_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make(name, seed=0, **make_clip kwargs) -> a generated mp4 (cached per arguments)."""
    root = tmp_path_factory.mktemp("clips")
    made: dict[tuple[Any, ...], Path] = {}

    def make(name: str, seed: int = 0, **kwargs: Any) -> Path:
        key = (name, seed, tuple(sorted(kwargs.items())))
        if key not in made:
            made[key] = make_clip(root / f"{name}.mp4", seed, **kwargs)
        return made[key]

    return make


@pytest.fixture(scope="session")
def three_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of 3 small synthetic pairs (160x128, 24 fps, 1 s)."""
    return make_pairs(tmp_path_factory.mktemp("pairs3"), 3)


@pytest.fixture(scope="session")
def learning_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of 30 synthetic restoration pairs of varied content (the last two are held out)."""
    return make_pairs(tmp_path_factory.mktemp("pairs30"), 30)


@pytest.fixture(scope="session")
def mixed_pairs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of 4 pairs, 1 s at 24 fps: rows 0-1 landscape 128x96, rows 2-3 portrait 96x128."""
    from engine.dataset import Pair, read_manifest, write_manifest

    root = tmp_path_factory.mktemp("mixed")
    landscape = read_manifest(make_pairs(root / "landscape", 2, width=128, height=96))
    portrait = read_manifest(make_pairs(root / "portrait", 2, width=96, height=128, first_seed=2))
    rows = [Pair(i, p.caption, p.video, p.reference) for i, p in enumerate(landscape + portrait)]
    return write_manifest(rows, root / "manifest.jsonl")


@pytest.fixture
def shared_media() -> Path:
    if not (SHARED_MEDIA / "carphone_pristine.mp4").exists():
        pytest.skip(f"optional real-footage test: {SHARED_MEDIA} is not present in this checkout")
    return SHARED_MEDIA


def tiny_config(tmp_path: Path, manifest: Path, model: Path, **overrides: Any) -> dict[str, Any]:
    """A small, fast training config as a plain dict (tests tweak it before validating)."""
    cfg: dict[str, Any] = {
        "model": str(model),
        "output_dir": str(tmp_path / "run"),
        "device": "cpu",
        "bucket": {"width": 128, "height": 128, "frames": 17, "fps": 24},
        "data": {"manifest": str(manifest), "max_sequence_length": 32},
        "lora": {"rank": 8},
        "optim": {"steps": 6, "learning_rate": 1e-3},
        "checkpoint": {"every": 1000},
        "validation": {"every": 0, "num_inference_steps": 2},
        "gradient_checkpointing": False,
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    return cfg


@pytest.fixture(scope="session")
def raw_config() -> Callable[..., dict[str, Any]]:
    """raw_config(tmp_dir, manifest, model, **overrides) -> the plain dict behind `make_config`."""
    return tiny_config


@pytest.fixture
def make_config(tmp_path: Path, tiny_model_dir: Path) -> Callable[..., Any]:
    """make_config(manifest, **overrides) -> a validated TrainConfig for the tiny model."""
    from engine.config import TrainConfig

    def make(manifest: Path, **overrides: Any) -> TrainConfig:
        return TrainConfig.model_validate(tiny_config(tmp_path, manifest, tiny_model_dir, **overrides))

    return make
