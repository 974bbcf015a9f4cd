#!/usr/bin/env bash
# Stops the private Docker engine of deploy/engine/start.sh and undoes what dockerd changed on the host: its iptables
# chains and rules, the FORWARD policy, ip_forward, the bridges it made (docker0, br-*) and the network-namespace
# mounts under its exec root. Images and the build cache stay in the data root for the next run
# (remove ICLORA_DOCKER_DATA, /var/lib/iclora-docker by default, to drop them too).
set -euo pipefail
data_root=${ICLORA_DOCKER_DATA:-/var/lib/iclora-docker}
exec_root=${ICLORA_DOCKER_EXEC:-/run/iclora-docker}
socket="$exec_root/docker.sock"
state="$exec_root/host-before"
pidfile="$exec_root/dockerd.pid"

say() { echo "$*" >&2; }
if [ "$(id -u)" -ne 0 ]; then
  say "Stopping the private Docker engine needs root."
  exit 1
fi

# The bridges of the engine's networks, read while it still answers (compose networks are br-<first 12 of the id>).
bridges=(docker0)
if DOCKER_HOST="unix://$socket" docker info >/dev/null 2>&1; then
  while read -r id driver; do
    [ "$driver" = bridge ] && bridges+=("br-${id:0:12}")
  done < <(DOCKER_HOST="unix://$socket" docker network ls --no-trunc --format '{{.ID}} {{.Driver}}')
fi

if [ -f "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null; then
  say "Stopping the private Docker engine (pid $pid)…"
  kill -TERM "$pid"
  # dockerd stops its containers first (10 s each at most), then its own containerd.
  for _ in $(seq 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$pid" 2>/dev/null; then
    say "It did not stop within 60 s; killing it."
    kill -KILL "$pid" 2>/dev/null || true
  fi
fi
# Its containerd and shims, if any outlived it (they run from the exec root's state).
pkill -f -- "--state $exec_root/containerd" 2>/dev/null || true
pkill -f -- "containerd-shim.*$exec_root" 2>/dev/null || true

# iptables: the rules in the built-in chains that jump to docker's chains or match its bridges, then its chains.
for table in filter nat; do
  iptables -t "$table" -S 2>/dev/null | grep -E '^-A (INPUT|FORWARD|OUTPUT|PREROUTING|POSTROUTING) ' \
    | grep -E -- '-j DOCKER|(-i|-o) (docker0|br-[0-9a-f]{12})( |$)' | while read -r rule; do
      # shellcheck disable=SC2086 # the rule is iptables' own words, split as iptables -S printed them
      iptables -t "$table" ${rule/-A /-D } 2>/dev/null || true
    done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
    iptables -t "$table" -F "$chain" 2>/dev/null || true
  done
  for chain in $(iptables -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^DOCKER/ {print $2}'); do
    iptables -t "$table" -X "$chain" 2>/dev/null || true
  done
done
if [ -f "$state/forward_policy" ] && policy=$(cat "$state/forward_policy") && [ -n "$policy" ]; then
  iptables -P FORWARD "$policy"
fi
[ -f "$state/ip_forward" ] && cat "$state/ip_forward" >/proc/sys/net/ipv4/ip_forward

for bridge in "${bridges[@]}"; do
  [ "$bridge" = docker0 ] && [ -f "$state/had_docker0" ] && continue
  ip link delete "$bridge" 2>/dev/null || true
done
# Network namespaces dockerd bind-mounted (netns/default and one per container that was still up).
while read -r target; do
  umount -l "$target" 2>/dev/null || true
done < <(awk -v root="$exec_root" '$2 ~ "^" root {print $2}' /proc/mounts | sort -r)
rm -rf "$state" "$exec_root"
say "The private Docker engine is stopped and the host is as it was (images kept in $data_root)."
