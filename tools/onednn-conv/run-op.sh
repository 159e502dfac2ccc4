#!/usr/bin/env bash
# Builds tfdconv.cpp (a TensorFlow custom op on oneDNN's blocked-layout convolution, through
# TensorFlow's C kernel API) and times the sampling graphs with and without it:
#   tools/onednn-conv/run-op.sh small 5
# Needs: apt-get install g++ libdnnl-dev, and ./tfdiffusion built once (its classpath).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
classpath="$(cat "$root/diffusion-cli/target/launcher.classpath")"
tf_lib="$(dirname "$(find "$HOME/.javacpp/cache" -name 'libtensorflow_framework.so.2' | head -n 1)")"
out="$(mktemp -d)"
g++ -O2 -shared -fPIC -o "$out/libtfdconv.so" "$here/tfdconv.cpp" -ldnnl \
  -L"$tf_lib" -l:libtensorflow_framework.so.2 -Wl,-rpath,"$tf_lib"
javac -cp "$classpath" -d "$out" "$here/CustomConvSampling.java"
export TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}" TFD_CONV_OP="$out/libtfdconv.so"
export GLIBC_TUNABLES="${GLIBC_TUNABLES:-glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=17179869184:glibc.malloc.arena_max=1}"
export TF_XLA_FLAGS="${TF_XLA_FLAGS:---tf_xla_cpu_global_jit}" XLA_FLAGS="${XLA_FLAGS:---xla_cpu_enable_fast_math=true}"
if [ $# -eq 0 ]; then set -- small 5; fi
java -Xss64m -cp "$out:$classpath" CustomConvSampling "$@"
rm -rf "$out"
