#!/usr/bin/env bash
# Wheels the GPU benchmark needs beyond what a bare CUDA image with PyTorch holds (torch, transformers, peft,
# accelerate, safetensors, numpy, pyyaml, einops), at the versions this checkout's .venv runs, for the GPU machine's
# Python. They go to .whl/ (git-ignored), which a GPU call carries; bench/gpu_session.sh installs them there.
#
#   bench/gpu_wheels.sh          # for Python 3.12 (the GPU machines' interpreter)
#   bench/gpu_wheels.sh 3.11     # for another minor version (3.11: to try bench/gpu_session.sh on this machine)
set -euo pipefail
cd "$(dirname "$0")/.."

python_version="${1:-3.12}"
site=".venv/lib/python3.11/site-packages"
test -d "$site" || { echo "Run make first: the versions are read from $site." >&2; exit 1; }

# diffusers and the engine's own imports (pydantic, ffmpeg-python), with what they need that such an image lacks.
names=(diffusers pydantic pydantic_core annotated_types typing_inspection typing_extensions importlib_metadata
       ffmpeg_python future optimum_quanto)
specs=()
for name in "${names[@]}"; do
  info=$(compgen -G "$site/${name}-*.dist-info" | head -1) || { echo "$name is not installed in .venv" >&2; exit 1; }
  version=$(sed -n 's/^Version: //p' "$info/METADATA")
  specs+=("${name//_/-}==$version")
done

rm -rf .whl && mkdir -p .whl
out=$(.venv/bin/python -m pip download -q --no-deps --only-binary=:all: --python-version "$python_version" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d .whl "${specs[@]}" 2>&1) || { echo "$out" >&2; exit 1; }
du -sh .whl
