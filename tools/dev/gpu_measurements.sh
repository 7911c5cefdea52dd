#!/usr/bin/env bash
# ScaleNet's GPU measurements as one command, in under 10 minutes: every
# part has its own time limit; a part that runs out is reported and the
# next one starts.
#
#   0. the wheels in .whl (made by tools/dev/gpu_wheels.sh) installed under
#      /tmp/site when the machine lacks mmengine (a bare GPU image with
#      torch and no registry);
#   1. tools/dev/check_equivalence.py: every SA rewrite (the parallel CUDA
#      streams included), the zero-padded deploy and the padded build give
#      the authors' outputs (and losses and gradients) on the GPU;
#   2. the SA rewrites this GPU should take (tools/benchmark.py
#      --choose-sa-rewrites), fp32 (TF32) and AMP (bf16, as every AMP
#      part), channels-last: ScaleNet-50 under every named rewrite, eval
#      batch 16 and training step batch 32, interleaved; each choice is
#      printed as the row of MEASURED_CHOICES in
#      mmscalenet/rewrites/choice.py and saved to
#      OUT/sa-rewrites-{fp32,amp}.json;
#   3. the ablation, ScaleNet-50 against ResNet-50: eval batch 16 and
#      training step batch 32, fp32 (TF32) and AMP, each lever on its own
#      (cudnn.benchmark, channels-last, CUDA graphs of the whole training
#      step; channels padded to 8 is a row of every best-engine table);
#   4. the per-kernel tables (torch.profiler, top kernels by GPU time),
#      ScaleNet-50 against ResNet-50, eval batch 16 and training step, on
#      the SA rewrites chosen in fp32;
#   5. the best-engine rows for depths 50 and 101: eval batch 16, 64 and 1,
#      training step batch 32, the backbone's forward + backward on 2 images
#      of 800x1216, fp32 and AMP, channels-last (on the H200 it halved
#      ScaleNet's fp32 eval: PyTorch's NCHW bilinear upsampling kernel took
#      half its time), every lever on but the CUDA graph of the training
#      step (its capture crashed in channels-last, 2026-12-04: part 3 times
#      it alone), and the SA rewrites of step 2;
#   6. torch.compile (reduce-overhead: inductor's fused kernels replayed as
#      CUDA graphs) of the fused ResNet-50 and ScaleNet-50, eval batch 16,
#      AMP, channels-last: where inductor fuses ScaleNet's glue (pools,
#      upsampling, concatenation) into its neighbours.
#
# Everything the benchmark prints is appended to OUT/benchmarks-gpu.md (to
# be appended to docs/benchmarks.md; its device line names the GPU); the
# whole log is OUT/gpu.log. Then: paste the two printed rows into
# MEASURED_CHOICES, and run the script again to confirm.
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

part 30 "equal outputs, every rewrite" "$PY" tools/dev/check_equivalence.py \
    --device "$DEVICE" "${CHECK[@]}"

# Sized for 585 s (H200, 2026-12-04: a part of 8 s is start-up alone):
# 30 + 2 x 40 + 4 x 20 + 2 x 30 + 25 + 30 + 2 x 110 + 60 = 585 s at most.
CHOOSE=(--depths 50 --choose-sa-rewrites --tf32 --cudnn-benchmark
        --channels-last --channel-multiple 8 "${SIZE[@]}" "${ROUNDS[@]}")
AMP=(--amp --amp-dtype bfloat16)
bench 40 "SA rewrite choice: fp32" "${CHOOSE[@]}" \
    --save-sa-rewrites "$OUT/sa-rewrites-fp32.json"
bench 40 "SA rewrite choice: AMP" "${CHOOSE[@]}" "${AMP[@]}" \
    --save-sa-rewrites "$OUT/sa-rewrites-amp.json"
chosen() {  # chosen fp32|amp: the --sa-rewrites of the best rows
    if [ -f "$OUT/sa-rewrites-$1.json" ]; then
        echo "--sa-rewrites $OUT/sa-rewrites-$1.json"
    fi
}
ABLATE=(--depths 50 --skip-detection --no-cuda-graphs --tf32 "${SIZE[@]}"
        "${ROUNDS[@]}")
for amp in "" "${AMP[*]}"; do
    # shellcheck disable=SC2086  # $amp: no flag, or the AMP flags
    bench 20 "ablation: defaults ${amp:+AMP}" "${ABLATE[@]}" $amp
    # shellcheck disable=SC2086
    bench 30 "ablation: cudnn.benchmark ${amp:+AMP}" "${ABLATE[@]}" $amp \
        --cudnn-benchmark
    # shellcheck disable=SC2086
    bench 20 "ablation: channels-last ${amp:+AMP}" "${ABLATE[@]}" $amp \
        --channels-last
done
bench 25 "ablation: CUDA graph of the training step" "${ABLATE[@]}" \
    --skip-eval --cuda-graph-train --cudnn-benchmark
# shellcheck disable=SC2046  # (one flag and its file, no spaces in OUT)
bench 30 "per-kernel tables" --depths 50 --skip-detection --no-cuda-graphs \
    --tf32 --cudnn-benchmark --kernel-table "${SIZE[@]}" --rounds 1 \
    --warmup 1 $(chosen fp32)
BEST=(--tf32 --cudnn-benchmark --channel-multiple 8 --channels-last
      "${SIZE[@]}" "${BIG[@]}" "${ROUNDS[@]}")
# shellcheck disable=SC2046  # (one flag and its file, no spaces in OUT)
bench 110 "best engines: fp32, channels-last" "${DEPTHS[@]}" "${BEST[@]}" \
    $(chosen fp32)
# shellcheck disable=SC2046
bench 110 "best engines: AMP, channels-last" "${DEPTHS[@]}" "${BEST[@]}" \
    "${AMP[@]}" $(chosen amp)
# shellcheck disable=SC2046
bench 60 "best engines: torch.compile, AMP, channels-last" --depths 50 \
    --skip-train --skip-detection --no-cuda-graphs --tf32 --cudnn-benchmark \
    --channels-last "${AMP[@]}" --compile --compile-mode reduce-overhead \
    "${SIZE[@]}" --batch 16 "${ROUNDS[@]}" $(chosen amp)
echo "== done" | tee -a "$LOG"
