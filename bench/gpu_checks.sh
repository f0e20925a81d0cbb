#!/usr/bin/env bash
# Every GPU measurement the project records, in one run on one CUDA GPU (about 10 minutes, most
# of it gsplat's first-use CUDA build). Run from the repository root, with the wheels of
# bench/device_prepare.sh in .whl/ and the courtyard in .fixtures/ when the machine cannot reach
# a package index or ../shared/fixtures.
# Writes each section's output to $OUT (default ./gpu_results) and prints it.
# Usage: bench/gpu_checks.sh [SECTION...]  (default: all of gsplat_build render_agreement
# render_speed model_speed; `bench/gpu_checks.sh model_speed` needs no gsplat build: about 3 minutes)
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-gpu_results}"
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/anix_site .whl/*.whl \
        || { echo "installing the carried wheels failed"; exit 2; }
    export PYTHONPATH="$PWD:/tmp/anix_site:${PYTHONPATH:-}"
else
    export PYTHONPATH="$PWD:${PYTHONPATH:-}"
fi
export PYTHONUNBUFFERED=1
[ -d .fixtures ] && [ -z "${ANIX_FIXTURES:-}" ] && [ ! -d ../shared/fixtures ] && export ANIX_FIXTURES="$PWD/.fixtures"
# Build gsplat's kernels for this GPU only, in parallel (an H100 is 9.0).
export TORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-$(python3 -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')}"
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"

wanted=("$@")
section() {  # name, command...
    local name=$1; shift
    if [ ${#wanted[@]} -gt 0 ] && [[ " ${wanted[*]} " != *" $name "* ]]; then return; fi
    echo "== $name: $*"
    local start=$SECONDS
    timeout "${SECTION_TIMEOUT:-420}" "$@" 2>&1 | tee "$out/$name.log"
    echo "== $name: exit ${PIPESTATUS[0]} after $((SECONDS - start)) s"
}

# gsplat compiles its CUDA extension on first use (minutes of CPU work): build it in the
# background on most cores while the model, which needs no gsplat, is measured on the GPU.
build_log="$out/gsplat_build.log"
if [ ${#wanted[@]} -eq 0 ] || [[ " ${wanted[*]} " == *" gsplat_build "* ]]; then
    (MAX_JOBS=$(( $(nproc) > 4 ? $(nproc) - 2 : 2 )) timeout "${SECTION_TIMEOUT:-420}" python3 -c \
        "import torch, gsplat; from gsplat.cuda._backend import _C; print('gsplat', gsplat.__version__, 'built:', _C is not None)" \
        >"$build_log" 2>&1; echo "exit $?" >>"$build_log") &
    build_pid=$!
fi
# Sampling with DeepCache off and on, the 4-step student, VAE decode, one LoRA training step.
section model_speed python3 bench/model.py --json "$out/model_speed.json"
if [ -n "${build_pid:-}" ]; then
    start=$SECONDS; wait "$build_pid"
    echo "== gsplat_build (background): waited $((SECONDS - start)) s more"; cat "$build_log"
fi
section render_agreement python3 -m pytest -q -p no:cacheprovider -m cuda -s tests/test_render_courtyard.py tests/test_render_gsplat.py
section render_speed python3 bench/render.py --backend gsplat --frames 93
# One shot across several GPUs (context parallelism, Ulysses over NCCL): tokens split, output equal
# to one GPU's within bf16 rounding. Needs two GPUs; a one-GPU machine says so and skips it.
gpus=$(python3 -c 'import torch; print(torch.cuda.device_count())')
if [ "$gpus" -ge 2 ]; then
    section context_parallel python3 bench/context_parallel.py --ranks 2 --device cuda --size small --dtype bf16 \
        --frames 8 --height 30 --width 52 --text 256 --history --repeats 3
    # a prompt whose token count does not divide by 2 (NCCL's uneven split)
    section context_parallel_uneven python3 bench/context_parallel.py --ranks 2 --device cuda --size small \
        --dtype bf16 --frames 7 --height 30 --width 52 --text 77 --repeats 3
else
    echo "== context_parallel: skipped: it needs 2 GPUs and this machine has $gpus" | tee "$out/context_parallel.log"
fi
