#!/usr/bin/env bash
# The smoke test's fault: the GPU worker's main process dies (as if its machine lost power, or the kernel killed it
# for memory) while it holds a run. `docker kill` would not do: Docker counts it as a stop by hand and does not
# restart the container, whereas a process that dies is restarted by the `unless-stopped` policy.
set -euo pipefail
id=$(docker ps -q --filter "label=com.docker.compose.project=${SMOKE_PROJECT:-iclora-smoke}" \
  --filter "label=com.docker.compose.service=gpu-worker-on-cpu")
[ -n "$id" ] || { echo "No running GPU worker container to kill." >&2; exit 1; }
pid=$(docker inspect -f '{{.State.Pid}}' "$id")
echo "Killing the GPU worker's process (pid $pid on the host, container ${id:0:12})."
kill -KILL "$pid"
