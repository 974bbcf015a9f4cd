#!/usr/bin/env bash
# Checks a deployment end to end: builds both images, starts the whole compose stack (PostgreSQL, Redis, S3, web,
# cpu worker, gpu worker, beat, watchdog) with a throwaway configuration (the tiny model, plain HTTP on localhost, the GPU
# worker on the CPU), walks it in Chromium as a new creator (deploy/smoke/walk.py), checks that the files landed
# in the bucket, then removes the stack and its volumes. Logs and screenshots stay in data/smoke/.
#   deploy/smoke/run.sh            with the registry's images (postgres:16, redis:7, MinIO)
#   deploy/smoke/run.sh --offline  with stand-ins built from Debian's packages (deploy/offline/README.md)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/data/smoke"
mkdir -p "$out"
port=${WEB_PORT:-8765}
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }

env_file="$out/smoke.env"
cat > "$env_file" <<ENV
HTTPS=false
SECRET_KEY=$(secret)
ALLOWED_HOSTS=127.0.0.1,localhost
SITE_URL=http://127.0.0.1:$port
POSTGRES_PASSWORD=$(secret)
S3_BUCKET=iclora-smoke
S3_ACCESS_KEY_ID=smoke
S3_SECRET_ACCESS_KEY=$(secret)
S3_REGION=us-east-1
MODEL_PRESET=tiny
ENV
export ENV_FILE="$env_file" WEB_PORT="$port"
files=(-f deploy/docker-compose.yml -f deploy/smoke/compose.yml)

if [ "${1:-}" = "--offline" ]; then
  deploy/offline/build-images.sh
  files+=(-f deploy/offline/compose.offline.yml)
  export OFFLINE_INDEX_PORT=${OFFLINE_INDEX_PORT:-8719}
  python3 -m http.server --bind 127.0.0.1 --directory data/offline-images/wheels "$OFFLINE_INDEX_PORT" \
    >/dev/null 2>&1 &
  index_server=$!
fi

compose() { docker compose -p iclora-smoke --env-file "$env_file" "${files[@]}" "$@"; }
finish() {
  status=$?
  compose logs --no-color >"$out/compose.log" 2>&1 || true
  compose down -v --remove-orphans >/dev/null 2>&1 || true
  [ -n "${index_server:-}" ] && kill "$index_server" 2>/dev/null
  if [ "$status" -eq 0 ]; then
    echo "Smoke test passed. Screenshots and logs: $out"
  else
    echo "Smoke test FAILED (exit $status). Logs of every service: $out/compose.log" >&2
  fi
}
trap finish EXIT

make .venv/.installed >/dev/null
deploy/system-packages.sh chromium=chromium

started=$(date +%s)
echo "Building the images…"
compose build
echo "Images built in $(( $(date +%s) - started )) s."
# The image's own production settings, as a deployment behind HTTPS would have them.
compose run --rm --no-deps -e HTTPS=true web python manage.py check --deploy --fail-level WARNING
echo "Starting the stack…"
compose up -d
for _ in $(seq 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 2
done
curl -fsS "http://127.0.0.1:$port/healthz"
echo
echo "Walking the deployment as a new creator…"
.venv/bin/python deploy/smoke/walk.py "http://127.0.0.1:$port" "$out"

# The uploads, the adapter and the Studio's result went to the bucket, not to a container's disk.
compose exec -T web python manage.py shell <<'PY'
from django.core.files.storage import default_storage
keys = [item.key for item in default_storage.bucket.objects.all()]
print(f"{len(keys)} objects in the bucket {default_storage.bucket_name}, under {sorted({k.split('/')[0] for k in keys})}")
assert any(k.endswith(".safetensors") for k in keys), "no adapter in the bucket"
assert any(k.endswith(".mp4") for k in keys), "no video in the bucket"
PY
echo "Whole check took $(( $(date +%s) - started )) s."
