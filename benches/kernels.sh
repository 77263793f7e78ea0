#!/usr/bin/env bash
# Our CPU kernels against a plain read of the same bytes, at each level this CPU runs: the
# strips' product over musicgen-small's decoder weights (benches/kernels/strip_product.cpp) and
# the int8-int4 attention over its caches at 250, 1000 and 1500 positions
# (benches/kernels/attention.cpp). How near memory speed a decoder step's reads run, without the
# rest of the step.
# Usage: benches/kernels.sh [ITERATIONS] | --build (only builds them and checks their prefetches:
# scripts/test.sh checks that they follow the kernels' interfaces)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Only GGML's headers and its fp16 conversions are taken from the build: with --build any debug
# build of ggml-sys does (scripts/test.sh's cargo test made one; building it alone would compile
# the engine again, with other features).
source benches/kernels/build.sh
if [ "${1:-}" != --build ]; then
  cargo build --release -q -p ggml-sys
  build=$(ggml_install target/release)
else
  compgen -G "target/debug/ggml-cmake/*/lib/libggml-base.a" >/dev/null || cargo build -q -p ggml-sys
  build=$(ggml_install target/debug)
fi
mkdir -p target/bench-kernels
# (instructions: benches/arm_instructions.sh's driver, run there under qemu)
for name in strip_product attention instructions; do
  build_kernel_bench g++ "$build" $name "target/bench-kernels/$name"
done
# Each kernel that streams memory must hold its prefetch instructions: GCC 12 once deleted the
# attention's silently (cpu_simd.h), and nothing else would have told.
prefetching() { # BINARY FUNCTION-PATTERN...
  local listing
  listing=$(objdump -d -C --no-show-raw-insn "$1" | awk '/^[0-9a-f]+ </ {name = $0} /prefetch/ {print name}')
  for pattern in "${@:2}"; do
    grep -qE "$pattern" <<<"$listing" || { echo "benches/kernels.sh: no prefetch in $pattern ($1)" >&2; return 1; }
  done
}
# (AVX2's int8 key scores: their own function, or inlined into tile_scores_avx2, whose float
# keys are float_tile_scores_avx2's.)
prefetching target/bench-kernels/attention '<lofi::attend_pairs' 'tile_scores_int8_avx512_vnni' 'tile_scores_avx_vnni' \
  ':tile_scores_(int8_)?avx2\(' 'float_tile_scores_avx2' 'float_tile_scores_avx512' 'weigh_dimensions_avx512_vnni' \
  'weigh_dimensions_avx_vnni' 'weigh_dimensions_avx2' 'weighted_rows_avx512' 'weighted_rows_avx2'
prefetching target/bench-kernels/strip_product 'strips_avx512_vnni.*StripTileQ4' 'strips_avx512_vnni.*StripTileQ5' \
  'strips_avx512_vnni.*StripTileQ6' 'strips_avx512_vnni.*StripTileQ8' 'strips_avx_vnni.*StripTileQ4' 'strips_avx_vnni.*StripTileQ6' \
  'strips_avx2.*StripTileQ4' 'strips_avx2.*StripTileQ5' 'strips_avx2.*StripTileQ6' 'strips_avx2.*StripTileQ8'
[ "${1:-}" = --build ] && exit 0
lscpu | grep -E "^Model name" || true
# (the portable level, 8-16x a read, by hand: target/bench-kernels/strip_product portable)
for level in avx2 avx-vnni avx512-vnni neon-dotprod; do
  target/bench-kernels/strip_product "$level" "${1:-20}" 2>/dev/null || { echo "$level: this CPU does not run it"; continue; }
  LOFI_CPU_KERNELS=$level target/bench-kernels/attention "${1:-20}"
done
