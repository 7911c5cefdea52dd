#!/usr/bin/env bash
# ScaleNet's GPU measurements as one command, in about 8 minutes: every
# part has its own time limit; a part that runs out is reported and the
# next one starts.
#
#   0. the wheels in .whl (made by tools/dev/gpu_wheels.sh) installed under
#      /tmp/site when the machine lacks mmengine (a bare GPU image with
#      torch and no registry);
#   1. tools/dev/check_paths.py: every SA path (the parallel CUDA streams
#      included), the zero-padded deploy and the padded build give the
#      plain model's outputs (and losses and gradients) on the GPU;
#   2. the ablation, ScaleNet-50 against ResNet-50: eval batch 16 and
#      training step batch 32, fp32 (TF32) and AMP, each lever on its own
#      (the scales on parallel CUDA streams, cudnn.benchmark, channels-last,
#      channels padded to 8, CUDA graphs of the whole training step);
#   3. the per-kernel tables (torch.profiler, top kernels by GPU time),
#      ScaleNet-50 against ResNet-50, eval batch 16 and training step;
#   4. the best-path rows for depths 50 and 101: eval batch 16, 64 and 1,
#      training step batch 32, the backbone's forward + backward on 2 images
#      of 800x1216, fp32 and AMP, every lever on.
#
# Everything the benchmark prints is appended to OUT/benchmarks-gpu.md (to
# be appended to docs/benchmarks.md; its device line names the GPU); the
# whole log is OUT/gpu.log.
#
# Usage: tools/dev/gpu_measurements.sh OUT [--dry-run]
#   --dry-run  on the CPU at tiny sizes, one benchmark call per part kind:
#              checks that every part runs (tests/test_tools.py runs it),
#              measures nothing
set -u
OUT="${1:?usage: tools/dev/gpu_measurements.sh OUT [--dry-run]}"
DRY="${2:-}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
LOG="$OUT/gpu.log"

if ! "$PY" -c 'import mmengine' 2>/dev/null; then
    if ls .whl/*.whl >/dev/null 2>&1; then
        "$PY" -m pip install -q --no-index --no-deps --no-compile \
            --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
        export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    else
        echo "mmengine is missing and there are no wheels in .whl:" \
            "run tools/dev/gpu_wheels.sh here and carry .whl" >&2
        exit 1
    fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ "$DRY" = "--dry-run" ]; then
    DEVICE=cpu
    SIZE=(--size 64 --det-size 64 96 --train-batch 2 --det-batch 1
          --batch 2 --rounds 1 --warmup 0)
    BIG=(--batch 2 1)
    ROUNDS=(--rounds 1 --warmup 0)
    CHECK=(--size 64 --batch 1)
    DEPTHS=(--depths 50)
    LIMIT_ALL=600
else
    DEVICE=cuda
    SIZE=(--size 224 --det-size 800 1216 --train-batch 32 --det-batch 2
          --rounds 20 --warmup 5)
    BIG=(--batch 16 64 1)
    ROUNDS=(--rounds 10 --warmup 3)
    CHECK=()
    DEPTHS=(--depths 50 101)
    LIMIT_ALL=
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv |
        tee -a "$LOG"
fi

part() {  # part SECONDS TITLE COMMAND...: one part, its output kept
    local limit="$1" title="$2"
    shift 2
    [ -z "$LIMIT_ALL" ] || limit="$LIMIT_ALL"
    echo "== $title (limit ${limit} s)" | tee -a "$LOG"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    local rc="${PIPESTATUS[0]}"
    echo "== $title: exit code $rc, $((SECONDS - start)) s" | tee -a "$LOG"
}

# The dry run runs the first part of each kind (the text before ':') and
# names the others: it checks the script, not the benchmark's rows (which
# tests/test_tools.py checks).
declare -A RAN=()
bench() {  # bench SECONDS TITLE ARGS...
    local limit="$1" title="$2" kind="${2%%:*}"
    shift 2
    if [ "$DRY" = "--dry-run" ] && [ -n "${RAN[$kind]:-}" ]; then
        echo "== $title: not run in the dry run" | tee -a "$LOG"
        return
    fi
    RAN[$kind]=1
    part "$limit" "$title" "$PY" tools/benchmark.py --device "$DEVICE" \
        --append-to "$OUT/benchmarks-gpu.md" "$@"
}

part 30 "equal outputs on every path" "$PY" tools/dev/check_paths.py \
    --device "$DEVICE" "${CHECK[@]}"

# Sized for 480 s: 30 + 10 x 22 + 25 + 30 + 2 x 80 = 465 s at most.
ABLATE=(--depths 50 --skip-detection --no-cuda-graphs --tf32 "${SIZE[@]}"
        "${ROUNDS[@]}")
for amp in "" "--amp"; do
    bench 22 "ablation: defaults ${amp}" "${ABLATE[@]}" $amp
    bench 22 "ablation: SA paths cuda-streams ${amp}" "${ABLATE[@]}" $amp \
        --sa-paths cuda-streams
    bench 22 "ablation: cudnn.benchmark ${amp}" "${ABLATE[@]}" $amp \
        --cudnn-benchmark
    bench 22 "ablation: channels-last ${amp}" "${ABLATE[@]}" $amp \
        --channels-last
    bench 22 "ablation: channels padded to 8 ${amp}" "${ABLATE[@]}" $amp \
        --channel-multiple 8
done
bench 25 "ablation: CUDA graph of the training step" "${ABLATE[@]}" \
    --skip-eval --cuda-graph-train --cudnn-benchmark
bench 30 "per-kernel tables" --depths 50 --skip-detection --no-cuda-graphs \
    --tf32 --cudnn-benchmark --kernel-table "${SIZE[@]}" --rounds 1 \
    --warmup 1
BEST=(--tf32 --cudnn-benchmark --channel-multiple 8 --cuda-graph-train
      "${SIZE[@]}" "${BIG[@]}" "${ROUNDS[@]}")
bench 80 "best paths: fp32" "${DEPTHS[@]}" "${BEST[@]}"
bench 80 "best paths: AMP" "${DEPTHS[@]}" "${BEST[@]}" --amp
echo "== done" | tee -a "$LOG"
