#!/usr/bin/env bash
# Checks a deployment end to end: builds both images, starts the whole compose stack (PostgreSQL, Redis, S3, web,
# cpu worker, gpu worker, beat, watchdog) with a throwaway configuration (the tiny model, plain HTTP on localhost, the
# GPU worker's image on the CPU), walks it in Chromium as a new creator (deploy/smoke/walk.py) while the worker
# training the run is killed (it comes back by its restart policy and the run continues), checks that the files
# landed in the bucket, then removes the stack and its volumes. Logs, screenshots and timings stay in data/smoke/.
#   deploy/smoke/run.sh            with the registry's images (postgres:16, redis:7, MinIO)
#   deploy/smoke/run.sh --offline  with stand-ins built from Debian's packages (deploy/offline/README.md)
#   --build-only                   only builds the images (CI builds them while the tests run, then checks)
# Uses the Docker engine DOCKER_HOST names (or the default socket); where none answers and this is root on Debian,
# it starts a private one for the check (deploy/engine/start.sh) and stops it afterwards, leaving the host as it was.
# Compose: `docker compose` (v2) where it is installed, else Debian's `docker-compose` 1.29.
set -euo pipefail
offline=false
build_only=false
for arg in "$@"; do
  case "$arg" in
    --offline) offline=true ;;
    --build-only) build_only=true ;;
    *) echo "Usage: deploy/smoke/run.sh [--offline] [--build-only]" >&2; exit 2 ;;
  esac
done
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
out="$root/data/smoke"
mkdir -p "$out"
rm -f "$out"/*.png "$out"/compose.log "$out"/timings.txt
port=${WEB_PORT:-8765}
project=iclora-smoke
secret() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
seconds_since() { echo $(( $(date +%s) - $1 )); }
timing() { echo "$1" | tee -a "$out/timings.txt"; }

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
# The workers mount the operator's model folder; here an empty one of the check's own, not /srv/models on the host.
mkdir -p "$out/models"
export ENV_FILE="$env_file" WEB_PORT="$port" MODELS_DIR="$out/models"
files=(-f deploy/docker-compose.yml -f deploy/smoke/compose.yml)

engine_started=false
if ! docker info >/dev/null 2>&1; then
  eval "$(deploy/engine/start.sh)"
  engine_started=true
fi
# The v28 client builds with BuildKit only through buildx; without it, the classic builder (both work).
docker buildx version >/dev/null 2>&1 || export DOCKER_BUILDKIT=0
if docker compose version >/dev/null 2>&1; then
  compose_cmd=(docker compose)
else
  deploy/system-packages.sh docker-compose=docker-compose
  compose_cmd=(docker-compose)
  # compose 1.29 builds through the docker client, which gives the same layers and cache as `docker build`.
  export COMPOSE_DOCKER_CLI_BUILD=1
fi
echo "Compose: $("${compose_cmd[@]}" version --short 2>/dev/null || "${compose_cmd[@]}" version | head -1)"

if $offline; then
  deploy/offline/build-images.sh
  files+=(-f deploy/offline/compose.offline.yml)
  export OFFLINE_INDEX_PORT=${OFFLINE_INDEX_PORT:-8719}
  python3 -m http.server --bind 127.0.0.1 --directory data/offline-images/wheels "$OFFLINE_INDEX_PORT" \
    >/dev/null 2>&1 &
  index_server=$!
fi

compose() { "${compose_cmd[@]}" -p "$project" --env-file "$env_file" "${files[@]}" "$@"; }

# The last log lines of every service that is not up and healthy (or ended badly), else of all of them.
show_failing_services() {
  local shown=false id name state health code
  for id in $(docker ps -aq --filter "label=com.docker.compose.project=$project"); do
    IFS='|' read -r name state health code < <(docker inspect -f \
      '{{index .Config.Labels "com.docker.compose.service"}}|{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}' "$id")
    # "created": compose made it but it never started (a port taken, a dependency that failed).
    if { [ "$state" = exited ] && [ "$code" != 0 ]; } || [ "$state" = restarting ] || [ "$state" = dead ] \
        || [ "$state" = created ] || [ "$health" = unhealthy ]; then
      echo "--- $name ($state${health:+, $health}, exit $code): last lines ---" >&2
      docker inspect -f '{{with .State.Error}}  Docker: {{.}}{{end}}' "$id" | grep . >&2 || true
      docker logs --tail 40 "$id" 2>&1 | sed 's/^/  /' >&2
      shown=true
    fi
  done
  if ! $shown; then
    echo "--- every service looks up; the last lines of web and the workers ---" >&2
    compose logs --no-color --tail 25 web cpu-worker gpu-worker-on-cpu watchdog >&2 2>&1 || true
  fi
}

finish() {
  status=$?
  set +e
  if [ "$status" -ne 0 ]; then show_failing_services; fi
  compose logs --no-color >"$out/compose.log" 2>&1
  compose --profile gpu down -v --remove-orphans >/dev/null 2>&1
  left=$(docker volume ls -q --filter "label=com.docker.compose.project=$project")
  if [ -n "$left" ]; then
    echo "Volumes left behind after the stack was removed: $left" >&2
    [ "$status" -eq 0 ] && status=1
  fi
  [ -n "${index_server:-}" ] && kill "$index_server" 2>/dev/null
  $engine_started && deploy/engine/stop.sh
  if $build_only; then
    [ "$status" -eq 0 ] && echo "Images built (--build-only: nothing was started)." \
      || echo "Image build FAILED (exit $status)." >&2
    exit "$status"
  fi
  if [ "$status" -eq 0 ]; then
    echo "Smoke test passed. Screenshots, timings and logs: $out"
  else
    echo "Smoke test FAILED (exit $status). Logs of every service: $out/compose.log" >&2
  fi
  exit "$status"
}
trap finish EXIT

started=$(date +%s)
echo "Building the images…"
compose build
timing "Images built in $(seconds_since "$started") s."
$build_only && exit 0
make .venv/.installed >/dev/null
deploy/system-packages.sh chromium=chromium
docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^iclora-studio(-gpu)?:' | tee -a "$out/timings.txt"
# The image's own production settings, as a deployment behind HTTPS would have them.
compose run --rm --no-deps -e HTTPS=true web python manage.py check --deploy --fail-level WARNING

echo "Starting the stack…"
up=$(date +%s)
compose up -d
healthy=false
for _ in $(seq 150); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then healthy=true; break; fi
  sleep 2
done
curl -sS "http://127.0.0.1:$port/healthz"
echo
$healthy || { echo "The stack did not answer /healthz as healthy within 5 minutes." >&2; exit 1; }
timing "Healthy (database, broker, channel layer and a worker on each queue) $(seconds_since "$up") s after \`up -d\`."

# The fault, during the run (walk.py calls it once the GPU worker holds the run): kill-gpu-worker.sh.
echo "Walking the deployment as a new creator…"
.venv/bin/python deploy/smoke/walk.py "http://127.0.0.1:$port" "$out" \
  --fault "$root/deploy/smoke/kill-gpu-worker.sh"
restarts=$(docker inspect -f '{{.RestartCount}}' "$(compose ps -q gpu-worker-on-cpu)")
[ "$restarts" -ge 1 ] || { echo "The killed GPU worker was not restarted by its restart policy." >&2; exit 1; }
echo "The GPU worker was restarted $restarts time(s) by its restart policy, and the run finished."

# The uploads, the adapter and the Studio's result went to the bucket, not to a container's disk.
compose exec -T web python manage.py shell <<'PY'
from django.core.files.storage import default_storage
keys = [item.key for item in default_storage.bucket.objects.all()]
print(f"{len(keys)} objects in the bucket {default_storage.bucket_name}, under {sorted({k.split('/')[0] for k in keys})}")
assert any(k.endswith(".safetensors") for k in keys), "no adapter in the bucket"
assert any(k.endswith(".mp4") for k in keys), "no video in the bucket"
PY
timing "Whole check took $(seconds_since "$started") s."
