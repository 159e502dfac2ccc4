#!/usr/bin/env bash
# Builds libtfdconv.so (tfd_conv.cc: oneDNN convolutions as TensorFlow custom ops) into DIR:
#   diffusion-core/src/main/native/build.sh DIR
# Needs g++ and oneDNN's headers and library (Debian/Ubuntu: apt-get install g++ libdnnl-dev).
# Where either is missing it says so and exits 0: tfdiffusion then runs TensorFlow's Conv2D.
# The library is linked against a stub carrying libtensorflow_framework.so.2's name, so that the
# build needs no TensorFlow download; at run time the real one, already loaded by TensorFlow Java,
# provides the C kernel API.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: build.sh OUTPUT_DIR}"
mkdir -p "$out"
if ! command -v g++ > /dev/null 2>&1; then
  echo "tfdconv: g++ not found; skipping the oneDNN convolution ops (apt-get install g++ libdnnl-dev)"
  exit 0
fi
if ! printf '#include <dnnl.hpp>\n' | g++ -x c++ -fsyntax-only - > /dev/null 2>&1; then
  echo "tfdconv: oneDNN headers not found; skipping the oneDNN convolution ops (apt-get install libdnnl-dev)"
  exit 0
fi
src="$here/tfd_conv.cc"
if [ -f "$out/libtfdconv.so" ] && [ "$out/libtfdconv.so" -nt "$src" ] && [ "$out/libtfdconv.so" -nt "$0" ]; then
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
grep -oE '\bTF_[A-Za-z_]+\(' "$src" | tr -d '(' | sort -u | sed 's/.*/void &(void) {}/' > "$tmp/stub.c"
gcc -shared -fPIC -Wl,-soname,libtensorflow_framework.so.2 -o "$tmp/libtensorflow_framework.so.2" "$tmp/stub.c"
g++ -O2 -std=c++17 -shared -fPIC -Wall -o "$tmp/libtfdconv.so" "$src" -ldnnl "$tmp/libtensorflow_framework.so.2"
mv "$tmp/libtfdconv.so" "$out/libtfdconv.so"
echo "tfdconv: built $out/libtfdconv.so"
