"""The deployment files stay in step with the code: no Docker engine runs here, so their references are checked."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILES = [DEPLOY / "Dockerfile", DEPLOY / "Dockerfile.gpu"]
LOCAL_APPS = [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").exists()]


def copied_paths(dockerfile: Path) -> set[str]:
    sources: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        if line.startswith("COPY "):
            *parts, _destination = line.split()[1:]
            sources.update(p for p in parts if not p.startswith("--"))
    return sources


def test_every_path_an_image_copies_exists_in_the_repository():
    for dockerfile in DOCKERFILES:
        for source in copied_paths(dockerfile):
            assert (ROOT / source).exists(), f"{dockerfile.name} copies {source}, which is not in the repository"


def test_both_images_carry_every_app_of_the_project():
    for dockerfile in DOCKERFILES:
        missing = [app for app in LOCAL_APPS if app not in copied_paths(dockerfile)]
        assert not missing, f"{dockerfile.name} leaves out {missing}"
        assert "config" in copied_paths(dockerfile) and "manage.py" in copied_paths(dockerfile)


def test_the_compose_file_builds_from_files_that_exist_and_sets_only_settings_the_app_reads():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "redis", "s3", "migrate", "web", "cpu-worker", "beat", "gpu-worker"} <= set(services)
    settings_source = (ROOT / "config" / "settings.py").read_text()
    for name, service in services.items():
        build = service.get("build")
        if build:
            assert (DEPLOY / build["context"] / build["dockerfile"]).exists(), name
        if service.get("image", "").startswith("iclora-studio"):
            for variable in service.get("environment", {}):
                assert f'"{variable}"' in settings_source, f"{name} sets {variable}, which settings never read"
    gpu = services["gpu-worker"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert gpu["capabilities"] == ["gpu"]


def test_the_example_environment_names_only_settings_the_app_reads():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    compose_only = {"POSTGRES_PASSWORD", "MODELS_DIR"}
    example = (DEPLOY / "production.env.example").read_text()
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE)
    assert names
    unknown = [n for n in names if n not in compose_only and f'"{n}"' not in settings_source]
    assert not unknown, f"production.env.example sets {unknown}, which settings never read"
