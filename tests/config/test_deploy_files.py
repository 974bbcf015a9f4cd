"""The deployment files stay in step with the code. deploy/smoke/run.sh builds and runs them for real (it needs a
Docker engine, so it is not part of this suite); these tests catch a file that drifts from the code in between."""

from __future__ import annotations

import json
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
    assert {"db", "redis", "s3", "migrate", "web", "cpu-worker", "beat", "watchdog", "gpu-worker"} <= set(services)
    assert services["watchdog"]["command"] == ["python", "manage.py", "watchdog"]
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
    # Like `make run`'s supervisor: every long-running process comes back when it exits, and a health check
    # tells a worker that stopped answering from one that is busy.
    for name in ("db", "redis", "s3", "web", "cpu-worker", "beat", "watchdog", "gpu-worker"):
        assert services[name]["restart"] == "unless-stopped", name
    for name in ("web", "cpu-worker", "gpu-worker"):
        assert services[name]["healthcheck"]["test"], name


def test_the_example_environment_names_only_settings_the_app_reads():
    settings_source = (ROOT / "config" / "settings.py").read_text()
    compose_only = {"POSTGRES_PASSWORD", "MODELS_DIR"}
    example = (DEPLOY / "production.env.example").read_text()
    names = re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE)
    assert names
    unknown = [n for n in names if n not in compose_only and f'"{n}"' not in settings_source]
    assert not unknown, f"production.env.example sets {unknown}, which settings never read"


def load_compose(path: Path) -> dict:
    """A compose file as Debian's docker-compose 1.29 reads it: plain YAML, so no tag of newer Compose releases
    (`!reset`, `!override`) can slip in."""
    return yaml.safe_load(path.read_text())


def merged_services(*paths: Path) -> dict[str, dict]:
    """The services of several compose files, each later file's keys over the earlier's (one level deep, which is
    all these overrides use)."""
    services: dict[str, dict] = {}
    for path in paths:
        for name, service in load_compose(path)["services"].items():
            services[name] = {**services.get(name, {}), **service}
    return services


def build_args(dockerfile: Path) -> set[str]:
    return set(re.findall(r"^ARG (\w+)", dockerfile.read_text(), flags=re.MULTILINE))


def test_the_smoke_and_offline_overrides_change_only_services_of_the_compose_file():
    services = set(load_compose(DEPLOY / "docker-compose.yml")["services"])
    smoke = set(load_compose(DEPLOY / "smoke" / "compose.yml")["services"])
    assert smoke - services == {"gpu-worker-on-cpu"}
    offline = set(load_compose(DEPLOY / "offline" / "compose.offline.yml")["services"])
    assert offline <= services | smoke, f"compose.offline.yml names {offline - services - smoke}, which no file has"


def test_the_smokes_gpu_worker_on_the_cpu_is_the_gpu_worker_without_its_gpu_reservation():
    compose = load_compose(DEPLOY / "docker-compose.yml")["services"]
    smoke = load_compose(DEPLOY / "smoke" / "compose.yml")["services"]
    real, on_cpu = compose["gpu-worker"], smoke["gpu-worker-on-cpu"]
    assert smoke["gpu-worker"] == {"profiles": ["gpu"]}, "the smoke stack must leave the reserving service out"
    assert "deploy" in real and "deploy" not in on_cpu
    for key in ("image", "build", "command", "env_file", "environment", "healthcheck", "restart", "depends_on",
                "volumes"):
        assert on_cpu.get(key) == real.get(key), key


def test_every_service_built_from_our_dockerfiles_gets_the_offline_build():
    stack = merged_services(DEPLOY / "docker-compose.yml", DEPLOY / "smoke" / "compose.yml")
    offline = load_compose(DEPLOY / "offline" / "compose.offline.yml")["services"]
    built = {name for name, service in stack.items() if "build" in service}
    assert built >= {"web", "gpu-worker-on-cpu"}
    missing = sorted(name for name in built if "build" not in offline.get(name, {}))
    assert not missing, f"compose.offline.yml gives no offline build to {missing}: they would pull from a registry"


def test_the_offline_builds_pass_only_build_arguments_the_dockerfiles_declare():
    for name, service in load_compose(DEPLOY / "offline" / "compose.offline.yml")["services"].items():
        build = service.get("build")
        if build:
            declared = build_args(DEPLOY / build["context"] / build["dockerfile"])
            assert set(build["args"]) <= declared, f"{name} passes {set(build['args']) - declared}"


def test_both_images_start_from_the_official_python_image_unless_told_otherwise():
    for dockerfile in DOCKERFILES:
        text = dockerfile.read_text()
        assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm\nFROM ${PYTHON_IMAGE}\n" in text, dockerfile.name


def test_every_offline_stand_in_the_override_uses_is_built_by_the_offline_script():
    script = (DEPLOY / "offline" / "build-images.sh").read_text()
    loop = re.search(r"^for service in ([\w ]+); do$", script, flags=re.MULTILINE)
    assert loop
    built = set(re.findall(r"-t iclora-offline/(\w+)", script)) | set(loop.group(1).split())
    override = load_compose(DEPLOY / "offline" / "compose.offline.yml")
    images = {s["image"] for s in override["services"].values() if "image" in s}
    images |= {s["build"]["args"]["PYTHON_IMAGE"] for s in override["services"].values() if "build" in s}
    for image in images:
        repository = image.split(":")[0].removeprefix("iclora-offline/")
        assert repository in built, f"{image} is used but build-images.sh never builds it"
        assert (DEPLOY / "offline" / f"{repository}.Dockerfile").exists(), image


def test_the_web_image_starts_the_same_web_server_as_make_run():
    from config.processes import web_server_command

    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    command = json.loads(re.search(r"^CMD (\[.*\])$", text, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert command == web_server_command("python", "0.0.0.0", 8000)[2:]
