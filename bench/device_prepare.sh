#!/usr/bin/env bash
# Prepares what bench/gpu_checks.sh needs on a GPU box that cannot reach the internet, in two
# git-ignored folders that travel with the working tree: .whl/ (the wheels its image lacks; it
# has PyTorch, transformers, peft, accelerate, numba, msgpack) and .fixtures/ (the courtyard).
# Usage: bash bench/device_prepare.sh [PYTHON_VERSION, default 3.12]
set -euo pipefail
cd "$(dirname "$0")/.."
py="${1:-3.12}"
mkdir -p .whl .fixtures
for d in /.whl/ /.fixtures/; do grep -qx "$d" .git/info/exclude 2>/dev/null || echo "$d" >> .git/info/exclude; done
cp "${ANIX_FIXTURES:-../shared/fixtures}"/courtyard.ply "${ANIX_FIXTURES:-../shared/fixtures}"/courtyard_truth.npz .fixtures/
platforms=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64 --platform manylinux1_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "$py" --implementation cp \
    "${platforms[@]}" -d .whl diffusers==0.42.1 gsplat==1.5.3 pyzmq==27.3.0 zstandard==0.25.0 importlib_metadata zipp
ls -1 .whl
