#!/usr/bin/env bash
# Times oneDNN's blocked-layout 3x3 convolution (forward, with and without the NHWC reorders a
# TensorFlow op would need, input and filter gradients) at the U-Net's shapes, outside TensorFlow:
# the kernel a custom op would bring (README, Speed). Needs: apt-get install g++ libdnnl-dev
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d)"
g++ -O2 -o "$out/conv" "$here/conv.cpp" -ldnnl
OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" "$out/conv"
rm -rf "$out"
