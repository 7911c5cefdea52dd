#!/usr/bin/env bash
# The measurements this project makes when a GPU is at hand, as one command:
#
#   1. the GPU table of tools/benchmark.py: ResNet-50/101 against
#      ScaleNet-50/101 at batch 16 and 1, fp32 and AMP, plain, fused and
#      replayed as CUDA graphs, training steps, memory and Faster R-CNN rows;
#      then torch.compile with CUDA graphs (mode reduce-overhead) at batch 1
#      for depth 50. Appended to OUT/benchmarks-gpu.md (to be appended to
#      docs/benchmarks.md).
#   2. the GPU protocol of the Fashion-MNIST allocation study
#      (configs/studies/fashion-mnist-gpu.py), 12 runs at a time, results in
#      OUT/fashion-mnist-gpu.json (written after every finished run, so a
#      study stopped at its time limit keeps what it finished).
#
# Every part has a time limit, so the whole stays inside one 10-minute call.
# Needs the project's packages importable and data/fashion_mnist prepared
# (tools/prepare_fashion_mnist.py).
#
# Usage: tools/gpu_measurements.sh OUT [STUDY_SECONDS]
#   OUT            folder for the outputs
#   STUDY_SECONDS  time limit of the study (default 260)
set -u
OUT="${1:?usage: tools/gpu_measurements.sh OUT [STUDY_SECONDS]}"
STUDY_SECONDS="${2:-260}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

bench() {  # bench LIMIT ARGS...: one benchmark run, its output kept
    local limit="$1"
    shift
    echo "== benchmark $* (limit ${limit} s)"
    timeout "$limit" "$PY" tools/benchmark.py --device cuda \
        --append-to "$OUT/benchmarks-gpu.md" "$@" 2>&1 |
        tee -a "$OUT/benchmark.log"
    local rc="${PIPESTATUS[0]}"
    [ "$rc" = 0 ] || echo "== benchmark $* ended with exit code $rc" |
        tee -a "$OUT/benchmark.log"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
bench 70 --rounds 30 --warmup 5
bench 60 --rounds 30 --warmup 5 --amp
bench 110 --depths 50 --batch 1 --rounds 30 --warmup 3 --skip-train \
    --skip-detection --compile --compile-mode reduce-overhead

echo "== study (limit ${STUDY_SECONDS} s)"
OMP_NUM_THREADS=1 timeout "$STUDY_SECONDS" "$PY" tools/allocation_study.py \
    configs/studies/fashion-mnist-gpu.py --workers 12 \
    --results "$OUT/fashion-mnist-gpu.json" \
    --work-dir "${TMPDIR:-/tmp}/work_dirs/fashion-mnist-gpu" \
    >"$OUT/study.log" 2>&1
echo "== study ended with exit code $?"
grep -E "^(started|finished)|Traceback|Error:" "$OUT/study.log" | tail -60
