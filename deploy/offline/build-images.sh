#!/usr/bin/env bash
# Builds stand-ins for the registry images deploy/docker-compose.yml starts from, out of Debian's packages and
# PyPI, for a machine whose Docker cannot pull from a container registry (deploy/offline/README.md).
#   iclora-offline/debian:bookworm  a minimal Debian bookworm made with debootstrap
#   iclora-offline/python:3.11      for python:3.11-slim-bookworm (the base of both of our images)
#   iclora-offline/postgres         for postgres:16 (Debian's PostgreSQL 15)
#   iclora-offline/redis            for redis:7 (Debian's Redis 7.0)
#   iclora-offline/s3               for minio/minio (moto's S3 server, in memory)
# It also fills a small package index with the CPU build of torch, which deploy/Dockerfile otherwise fetches
# from download.pytorch.org; deploy/smoke/run.sh --offline serves it to the build.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=${OFFLINE_WORK_DIR:-$root/data/offline-images}
mkdir -p "$work"

# The minimal Debian is also kept as a tarball outside the checkout (OFFLINE_CACHE_DIR), so an engine whose data was
# wiped, or a fresh clone on the same machine (CI), imports it in seconds instead of running debootstrap again.
cache=${OFFLINE_CACHE_DIR:-/var/cache/iclora-offline}
base_tar="$cache/debian-bookworm-minbase.tar"
if ! docker image inspect iclora-offline/debian:bookworm >/dev/null 2>&1; then
  if [ ! -s "$base_tar" ]; then
    "$root/deploy/system-packages.sh" debootstrap=debootstrap
    echo "Making a minimal Debian bookworm with debootstrap (a few minutes)…"
    rm -rf "$work/rootfs"
    debootstrap --variant=minbase --include=ca-certificates bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
    mkdir -p "$cache"
    tar -C "$work/rootfs" -cf "$base_tar.part" . && mv "$base_tar.part" "$base_tar"
    rm -rf "$work/rootfs"
  fi
  docker import - iclora-offline/debian:bookworm <"$base_tar" >/dev/null
fi

# The host's extra certificate authorities travel into the Python image (for pip behind a TLS-inspecting proxy).
context="$work/python-context"
rm -rf "$context" && mkdir -p "$context/extra-ca"
find /usr/local/share/ca-certificates -name '*.crt' -exec cp {} "$context/extra-ca/" \; 2>/dev/null || true
docker build -q -f "$here/python.Dockerfile" -t iclora-offline/python:3.11 "$context" >/dev/null
for service in postgres redis s3; do
  docker build -q -f "$here/$service.Dockerfile" -t "iclora-offline/$service" "$here" >/dev/null
done

# torch's CPU build and what it needs, as a PEP 503 index (one folder per project with links to its files).
wheels="$work/wheels"
mkdir -p "$wheels"
# The host's own pip settings decide where it comes from (a local folder of wheels, say); elsewhere PyPI's build.
if ! out=$(python3 -m pip download -q -d "$wheels" "${TORCH_SPEC:-torch==2.13.0}" --only-binary=:all: 2>&1); then
  echo "$out" >&2
  exit 1
fi
python3 - "$wheels" <<'PY'
import re, sys
from pathlib import Path
wheels = Path(sys.argv[1])
simple = wheels / "simple"
for wheel in wheels.glob("*.whl"):
    project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    folder = simple / project
    folder.mkdir(parents=True, exist_ok=True)
    links = {p.name for p in wheels.glob("*.whl") if re.sub(r"[-_.]+", "-", p.name.split("-")[0]).lower() == project}
    body = "".join(f'<a href="../../{name}">{name}</a>\n' for name in sorted(links))
    (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{body}</body></html>\n")
PY
docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^iclora-offline/'
