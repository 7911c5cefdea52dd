#!/usr/bin/env bash
# Idempotent set-up of the project's virtual environment (`make setup`).
#
# Creates .venv in the repository root and installs the exact pins kept in
# requirements/, then this package in editable mode. Each step first checks
# whether its result is already in place, so a second run takes seconds
# (none when nothing in the venv changed).
#
# mmcv 2.1.0 is source-only and its setup.py asks for -std=c++17, which the
# headers of torch >= 2.14 refuse. The first run therefore builds mmcv with its
# C++ ops from the patched sdist (30-40 minutes on 2 cores) and keeps the wheel
# in a cache folder outside the repository, keyed by the torch version and the
# Python tag, so that every later venv on this machine (CI's fresh clone too)
# installs it in seconds. A wheel built against another torch is never reused.
#
# Environment:
#   MMSCALENET_CACHE  cache folder (default: ${XDG_CACHE_HOME:-~/.cache}/mmscalenet)
#   PYTHON            interpreter for the venv (default: python3)
#   MAX_JOBS          parallel compile jobs for mmcv (default: number of cores)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
REQ="$ROOT/requirements"
CACHE="${MMSCALENET_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mmscalenet}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.mmscalenet-setup"

log() { printf '[setup] %s\n' "$*"; }
pin_of() { grep -E "^$1==" "$2" | head -n1 | cut -d= -f3; }

TORCH_VERSION="$(pin_of torch "$REQ/torch.txt")"
MMCV_VERSION="$(pin_of mmcv "$REQ/mmcv.txt")"

# Everything that decides what the venv holds; a change in any of them
# re-runs the install steps (each of which still skips what is in place).
fingerprint() {
    cat "$REQ"/*.txt "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1
}

# The import check that decides whether the venv is complete.
venv_ok() {
    [ -x "$PY" ] || return 1
    "$PY" - "$TORCH_VERSION" "$MMCV_VERSION" <<'EOF' >/dev/null 2>&1
import sys
import torch, torchvision, mmengine, mmcv
import mmcv.ops  # noqa: F401  (the compiled ops must load against this torch)
from mmcv.ops import nms  # noqa: F401
import mmdet, mmpretrain, mmseg, pycocotools, pytest, sklearn, matplotlib  # noqa
import xdist  # noqa: F401  (pytest-xdist: make test's workers)
import mim  # noqa: F401
import timm, safetensors  # noqa: F401,E401  (requirements/timm.txt)
import segmentation_models_pytorch  # noqa: F401  (requirements/smp.txt)
import onnx, onnxruntime, openvino  # noqa: F401,E401  (requirements/deploy.txt)
import mmscalenet  # noqa: F401
assert torch.__version__.split('+')[0] == sys.argv[1], torch.__version__
assert mmcv.__version__ == sys.argv[2], mmcv.__version__
EOF
}

# Whether nothing was installed or removed in the venv since the stamp was
# written (after a passing import check): pip adds and removes entries at
# the top of site-packages, which a later check would otherwise repeat (the
# imports take 6-7 s of every make test).
unchanged_since_stamp() {
    local site
    site="$(echo "$VENV"/lib/python3*/site-packages)"
    [ -d "$site" ] && [ -z "$(find "$site" "$VENV/bin" -maxdepth 1 -newer "$STAMP" -print -quit)" ]
}

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$(fingerprint)" ]; then
    if unchanged_since_stamp || { venv_ok && touch "$STAMP"; }; then
        log "environment in place ($VENV)"
        exit 0
    fi
fi

if [ ! -x "$PY" ]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$PY" -m pip --disable-pip-version-check --no-input)

has() { "$PY" -c "import importlib.metadata as m, sys; sys.exit(m.version('$1') != '$2')" 2>/dev/null; }

# 1. torch + torchvision (from the local disk where the machine has them).
if ! has torch "$TORCH_VERSION" || ! has torchvision "$(pin_of torchvision "$REQ/torch.txt")"; then
    log "installing torch $TORCH_VERSION (several GB, about 2 minutes)"
    "${PIP[@]}" install -r "$REQ/torch.txt"
fi
"${PIP[@]}" install -q -r "$REQ/build.txt"

# 2. mmcv with its ops, from the per-torch wheel cache or a fresh build.
PYTAG="$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
WHEELS="$CACHE/wheels/torch-$TORCH_VERSION-$PYTAG"
mmcv_ops_ok() {
    "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" >/dev/null 2>&1
}
build_mmcv() {
    local work
    work="$(mktemp -d)"
    log "building mmcv $MMCV_VERSION with ops against torch $TORCH_VERSION (30-40 minutes on 2 cores)"
    "${PIP[@]}" download --no-deps --no-binary :all: --no-build-isolation \
        "mmcv==$MMCV_VERSION" -d "$work"
    tar -xzf "$work/mmcv-$MMCV_VERSION.tar.gz" -C "$work"
    # torch >= 2.14 headers: "#error C++20 or later compatible compiler is required".
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$MMCV_VERSION/setup.py"
    grep -q -- '-std=c++20' "$work/mmcv-$MMCV_VERSION/setup.py" || {
        echo "mmcv setup.py has no -std flag to patch; refusing to build" >&2; exit 1; }
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "${PIP[@]}" wheel --no-deps --no-build-isolation -w "$work/dist" \
        "$work/mmcv-$MMCV_VERSION"
    mkdir -p "$WHEELS"
    local whl
    whl="$(ls "$work"/dist/mmcv-"$MMCV_VERSION"-*.whl)"
    # Atomic hand-over: a half-copied wheel is never seen by another set-up.
    cp "$whl" "$WHEELS/.$(basename "$whl").part"
    mv "$WHEELS/.$(basename "$whl").part" "$WHEELS/$(basename "$whl")"
    rm -rf "$work"
}
if ! mmcv_ops_ok; then
    if ! ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl >/dev/null 2>&1; then
        build_mmcv
    fi
    log "installing mmcv from $WHEELS"
    "${PIP[@]}" install --force-reinstall --no-deps "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl
fi

# 3. mmcv's own dependencies, the OpenMM stack and the test tools (mmcv is
#    already satisfied, so pip neither fetches nor builds another one), then
#    this package.
log "installing runtime and test requirements"
"${PIP[@]}" install -q -r "$REQ/mmcv.txt" -r "$REQ/runtime.txt" -r "$REQ/tests.txt" \
    -r "$REQ/deploy.txt"
mmcv_ops_ok || { echo "mmcv.ops does not import; rebuild the wheel: rm -r $WHEELS && make setup" >&2; exit 1; }
"${PIP[@]}" install -q --no-deps -r "$REQ/mim.txt"
"${PIP[@]}" install -q --no-deps -r "$REQ/timm.txt"
"${PIP[@]}" install -q --no-deps -r "$REQ/smp.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

venv_ok || { echo "set-up finished but the import check fails; run: $PY -c 'import mmcv.ops, mmdet, mmpretrain, mmscalenet'" >&2; exit 1; }
fingerprint >"$STAMP"
log "environment ready ($VENV)"
