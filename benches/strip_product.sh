#!/usr/bin/env bash
# The strips' product against a plain read of the same bytes (benches/kernels/strip_product.cpp)
# at each level of our CPU kernels this CPU runs: how near memory speed the decoder's weights are
# read, without the rest of a step. Builds lofi-daemon first (GGML's headers and library).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p lofi-daemon
build=$(ls -td target/release/build/ggml-sys-*/out | head -1)
mkdir -p target/bench-kernels
g++ -O3 -std=c++17 -fopenmp -I ggml-sys/cpp -I "$build/include" benches/kernels/strip_product.cpp \
  ggml-sys/cpp/strip_kernels.cpp ggml-sys/cpp/strip_layout.cpp ggml-sys/cpp/cpu_features.cpp \
  "$build/lib/libggml-base.a" -lpthread -lm -o target/bench-kernels/strip_product
lscpu | grep -E "^Model name" || true
for level in avx2 avx512-vnni; do # (the portable kernels are for correctness: ~20x slower)
  target/bench-kernels/strip_product "$level" "${1:-20}" || break # past this CPU's levels
done
