#!/usr/bin/env bash
# Starts a private Docker engine for the deployment checks (deploy/smoke/run.sh) on a machine where no engine runs
# and nothing such as systemd would start one: Debian's dockerd with its own data root, exec root, socket and
# pidfile, so it shares nothing with another engine and its image cache survives between runs.
#   eval "$(deploy/engine/start.sh)"     starts it (or finds it running) and exports DOCKER_HOST for this shell
#   deploy/engine/stop.sh                 stops it and undoes what dockerd changed on the host
# Before starting it records what dockerd will change (iptables' FORWARD policy, ip_forward), which stop.sh puts back.
# Only what goes to stdout is meant for eval; progress goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
# The data root holds image layers and the build cache: outside the checkout, so a fresh clone (CI) reuses them.
data_root=${ICLORA_DOCKER_DATA:-/var/lib/iclora-docker}
# The exec root holds the engine's socket and runtime state: short, because unix socket paths are limited to 108 bytes.
exec_root=${ICLORA_DOCKER_EXEC:-/run/iclora-docker}
socket="$exec_root/docker.sock"
state="$exec_root/host-before"
log="$data_root/dockerd.log"

say() { echo "$*" >&2; }
export_host() { echo "export DOCKER_HOST=unix://$socket"; }

if [ "$(id -u)" -ne 0 ]; then
  say "The private Docker engine needs root (it sets up bridges and iptables rules)."
  exit 1
fi
if DOCKER_HOST="unix://$socket" docker info >/dev/null 2>&1; then
  say "The private Docker engine is already running ($socket)."
  export_host
  exit 0
fi

"$root/deploy/system-packages.sh" dockerd=docker.io containerd=containerd runc=runc iptables=iptables \
  debootstrap=debootstrap docker-compose=docker-compose >&2
mkdir -p "$data_root" "$exec_root"

# What dockerd changes on the host, as it was before (stop.sh restores it). An earlier record is kept: if an engine
# died without stop.sh, the record from before it is the one that describes the untouched host.
if [ ! -f "$state/ip_forward" ]; then
  mkdir -p "$state"
  cat /proc/sys/net/ipv4/ip_forward >"$state/ip_forward"
  iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" {print $3}' >"$state/forward_policy"
  ip -o link show docker0 >/dev/null 2>&1 && touch "$state/had_docker0"
fi

say "Starting a private Docker engine (data in $data_root, socket $socket)…"
# overlay2 is the storage driver checked on this kind of machine; the engine's own BuildKit is left off (no buildx).
setsid dockerd \
  --data-root "$data_root" --exec-root "$exec_root" --pidfile "$exec_root/dockerd.pid" \
  -H "unix://$socket" --storage-driver overlay2 \
  >>"$log" 2>&1 </dev/null &
for _ in $(seq 60); do
  if DOCKER_HOST="unix://$socket" docker info >/dev/null 2>&1; then
    say "The private Docker engine is ready."
    export_host
    exit 0
  fi
  sleep 0.5
done
say "The private Docker engine did not start within 30 s. Its last log lines ($log):"
tail -n 20 "$log" >&2
exit 1
