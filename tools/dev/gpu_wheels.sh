#!/usr/bin/env bash
# Download, on a machine with a package registry, the wheels that
# tools/dev/gpu_measurements.sh installs on a GPU machine without one
# (Python 3.12, torch preinstalled, no OpenMMLab packages): pure-Python
# wheels of mmengine, mmcv-lite (mmcv's Python part: the model needs
# mmcv.cnn, not the compiled ops), mmpretrain and their small dependencies.
# They land in .whl/ (git-ignored, about 3 MiB); copy .whl to the GPU
# machine with the checkout.
#
# Usage: tools/dev/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p .whl
python3 -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
    -d .whl mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0 addict \
    yapf platformdirs termcolor modelindex model-index ordered-set mat4py \
    einops importlib-metadata==8.7.0 zipp
ls -l .whl
