#!/usr/bin/env bash
# How much work our CPU kernels ask of a 64-bit ARM CPU, which no machine here is: the strips'
# products (a 1024 x 1024 weight, two input rows) and the int8-int4 attention (1024 positions, 32
# pairs) built for aarch64 and run under qemu-user with an instruction-counting plugin
# (benches/kernels/instructions.cpp, benches/kernels/qemu_instruction_count.c), at the portable and
# the neon-dotprod level; beside them x86's avx2 level the same way (qemu-x86_64), whose speed
# this machine measures (benches/kernels.sh). Instructions are not time: an ARM core retires
# several a cycle and memory bounds the products on every CPU measured; the counts say how far
# each level's arithmetic is from that bound. QEMU 7.2's plugin interface (Debian 12's qemu-user).
# With --generation MODEL (a musicgen-small-shaped GGUF: benches/musicgen.sh makes them), then the
# musicgen bench (1 s of audio, 1 thread) built for aarch64 with GGML as the Linux ARM release
# ships it (its CPU variants as modules: scripts/test-aarch64.sh's build), run on qemu's Neoverse
# N1 (dot products and FP16: a Graviton 2's, a Raspberry Pi 5's Cortex-A76 alike) twice, our
# kernels at neon-dotprod — GGML's armv8.0_1 module (the armv8-a baseline, all that ARM releases
# linked in before they shipped the variants) and its armv8.2_2 one (dot products and FP16, what
# the release loads there) — instructions by function; ~15 minutes. Emulated time says nothing
# (qemu's fp16 arithmetic and dot products run in software).
# Usage: benches/arm_instructions.sh [--generation MODEL]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/aarch64-env.sh
cargo build -q --locked --target "$aarch64_triple" -p ggml-sys
source benches/kernels/build.sh
build=$(ggml_install "target/aarch64/$aarch64_triple/debug")
out=target/bench-kernels
mkdir -p "$out"
build_kernel_bench aarch64-linux-gnu-g++ "$build" instructions "$out/instructions-aarch64"
unset CARGO_TARGET_DIR
benches/kernels.sh --build # x86-64's, as target/bench-kernels/instructions
gcc -shared -fPIC -O2 benches/kernels/qemu_instruction_count.c -o "$out/libqemu_instruction_count.so"

arm=("${aarch64_qemu[@]}" "$out/instructions-aarch64")
x86=(qemu-x86_64 -cpu max "$out/instructions")
instructions() { # QEMU-COMMAND...: the guest instructions it ran
  "$1" -plugin "$out/libqemu_instruction_count.so" -d plugin "${@:2}" 2>&1 >/dev/null | awk '/^instructions:/ {print $2}'
}
# Instructions per unit of work: the difference between 11 repeats and 1, over 10 and `units`.
per_unit() { # UNITS COMMAND... (its last argument the repeat count, given here)
  local units=$1 one many
  one=$(instructions "${@:2}" 1)
  many=$(instructions "${@:2}" 11)
  echo $(((many - one) / 10 / units))
}
echo "strips: instructions per tile (16 rows x 256 inputs) times two input rows"
for format in Q4_K Q5_K Q6_K Q8_0; do
  portable=$(per_unit 256 "${arm[@]}" strips portable $format)
  neon=$(per_unit 256 "${arm[@]}" strips neon-dotprod $format)
  avx2=$(per_unit 256 "${x86[@]}" strips avx2 $format)
  echo "  $format: aarch64 portable $portable, neon-dotprod $neon ($(awk "BEGIN {printf \"%.1f\", $portable / $neon}")x fewer); x86-64 avx2 $avx2"
done
echo "int8-int4 attention: instructions per key and value tile (64 positions of one head and branch)"
tiles=$((32 * 1024 / 64))
portable=$(LOFI_CPU_KERNELS=portable per_unit $tiles "${arm[@]}" attention)
neon=$(LOFI_CPU_KERNELS=neon-dotprod per_unit $tiles "${arm[@]}" attention)
avx2=$(LOFI_CPU_KERNELS=avx2 per_unit $tiles "${x86[@]}" attention)
echo "  aarch64 portable $portable, neon-dotprod $neon ($(awk "BEGIN {printf \"%.1f\", $portable / $neon}")x fewer); x86-64 avx2 $avx2"
[ "${1:-}" = --generation ] || exit 0
model=$(realpath "$2")
use_aarch64_release_ggml
bench=$(cargo bench --no-run --locked --target "$aarch64_triple" -p musicgen --bench musicgen 2>&1 |
  awk -F'[()]' '/Executable/ {print $2}')
[[ $bench = /* ]] || bench="$root/$bench"
read -ra qemu <<<"$(aarch64_runner neoverse-n1)"
for variant in armv8.0_1 armv8.2_2; do
  echo "== 1 s of audio generated with $(basename "$model"), GGML's $variant module, qemu's Neoverse N1"
  # (GGML's shared libraries: beside the binaries, in the profile's directory, as in a release)
  (cd musicgen && LD_LIBRARY_PATH="$(dirname "$(dirname "$bench")")" LOFI_GGML_CPU_VARIANT=$variant \
    LOFI_BENCH_MODEL="$model" LOFI_BENCH_THREADS=1 LOFI_BENCH_SECONDS=1 \
    "${qemu[0]}" -plugin "$root/$out/libqemu_instruction_count.so,symbols=on" -d plugin "${qemu[@]:1}" "$bench" 2>&1 |
    c++filt | grep -E '^instructions|^ +[0-9.]+ %|CPU variant' | cut -c1-150)
done
