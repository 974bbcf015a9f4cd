from __future__ import annotations

from pathlib import Path

import pytest

from tests.clips import make_clip, make_image


class ClipMaker:
    """Makes each distinct clip once per test session."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def __call__(self, name: str, **options: object) -> Path:
        key = "_".join(f"{k}-{v}" for k, v in sorted(options.items()))
        path = self.folder / (key or "default") / name
        if not path.exists():
            make_clip(path, **options)  # type: ignore[arg-type]
        return path

    def ref(self, name: str = "r.mp4", **options: object) -> Path:
        """A reference that differs from the default target (other content, same shape)."""
        return self(name, **{"source": "mandelbrot", **options})

    def image(self, name: str, width: int = 160, height: int = 128) -> Path:
        path = self.folder / f"image-{width}x{height}" / name
        if not path.exists():
            make_image(path, width, height)
        return path


@pytest.fixture(scope="session")
def clips(tmp_path_factory: pytest.TempPathFactory) -> ClipMaker:
    return ClipMaker(tmp_path_factory.mktemp("clips"))


@pytest.fixture(autouse=True)
def own_media_root(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Each test stores uploads in its own folder, so "nothing was stored" can be checked for real.

    Tests with the real worker process keep the session's folder: the worker reads the same files.
    """
    if "celery_worker" in request.fixturenames:
        return
    settings = request.getfixturevalue("settings")
    settings.MEDIA_ROOT = str(tmp_path / "media")
