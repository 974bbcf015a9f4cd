#!/usr/bin/env bash
# Everything the GPU benchmark needs, in one device call: install the carried wheels (bench/gpu_wheels.sh), then
# measure the engine's step on a full-width LTX-2.3-shaped transformer at the wizard's bucket sizes, in bf16 and
# int8, and beside Lightricks' ltx-core. One JSON line per measurement goes to $OUT/engine_gpu.jsonl as soon as it
# is taken, so a call cut off at its time limit still returns what it measured; the most wanted come first.
#
# From the development machine (device tool): run(command="bash bench/gpu_session.sh", carry=[".whl",
# "bench/.ltx-core"], timeout_s=600); then copy engine_gpu.jsonl to wizard/gpu_measurements.jsonl, which the
# wizard's estimate reads (wizard/measured.py), and add the numbers to docs/benchmarks.md. To try it here on a CPU at tiny widths: bench/gpu_wheels.sh 3.11, then
# SMOKE=1 PYTHON=<an interpreter with torch, transformers, peft, safetensors, pyyaml, einops> bash bench/gpu_session.sh
set -uo pipefail
cd "$(dirname "$0")/.."

py="${PYTHON:-python3}"
out="${OUT:-data/bench}"
mkdir -p "$out"
site=$(mktemp -d)
"$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" .whl/*.whl \
  || { echo "Could not install the carried wheels: run bench/gpu_wheels.sh and carry .whl" >&2; exit 1; }
export PYTHONPATH="$site" PYTHONUNBUFFERED=1
smoke=()
if [ -n "${SMOKE:-}" ]; then smoke=(--smoke --layers 2 --steps 1); else nvidia-smi >"$out/nvidia-smi.txt" 2>&1; fi

measure() {
  echo "== bench/engine_gpu.py $*"
  local line
  line=$("$py" bench/engine_gpu.py "${smoke[@]}" "$@" | tail -1) && echo "$line" | tee -a "$out/engine_gpu.jsonl"
}
measure --ltx-core                                     # High quality's bucket, 768x448x121 + reference, beside ltx-core
measure --int8                                         # TRAINING_QUANTIZE=int8 at the same shape
measure --width 768 --height 448 --frames 81           # Balanced's bucket
measure --width 512 --height 288 --frames 49 --rank 16 # Quick test's bucket and rank
measure --width 960 --height 544 --frames 121          # a larger bucket, for how time and memory grow
test -s "$out/engine_gpu.jsonl"
