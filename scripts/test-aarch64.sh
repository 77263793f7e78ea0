#!/usr/bin/env bash
# Runs the engine's tests (ggml-sys's smoke tests, the MusicGen parity tests) built for 64-bit ARM
# and run under qemu-user: what a Mac's or an ARM Linux machine's CPU runs, checked on this x86-64
# machine. Twice: with GGML's portable baseline linked in (a Mac's release, a local build), and
# as the ARM Linux release builds it, GGML's CPU variants as modules of which the one this CPU
# runs best is loaded at run time — under emulated CPUs each of which must get its own: a
# Cortex-A72 (a Raspberry Pi 4: armv8.0_1), a Neoverse N1 (dot products and FP16, as a Pi 5 or a
# Graviton 2: armv8.2_2), and qemu's max CPU (SVE2 and int8 matrix multiply too: armv8.6_2) with
# 128-bit SVE vectors (a Graviton 4's) and 256-bit ones (a Graviton 3's). Not qemu's default of
# 512 bits: there GGML's SVE Q4_K and Q6_K products of two rows with int8 matrix multiply are
# wrong (README, "CPU"). Our neon-dotprod strip products and attention run wherever the CPU has
# dot products. Correctness only: emulated speed says nothing (benches/arm_instructions.sh counts
# the kernels' instructions). Builds into target/aarch64 and target/aarch64-variants (~5 and ~6
# minutes on 2 cores the first time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/aarch64-env.sh
echo "== GGML's portable baseline linked in, qemu -cpu max"
cargo test --locked --target "$aarch64_triple" -p ggml-sys
cargo test --locked --target "$aarch64_triple" -p musicgen --test parity

use_aarch64_release_ggml
sve128=max,sve-default-vector-length=16 sve256=max,sve-default-vector-length=32
for cpu in cortex-a72 neoverse-n1 $sve256 $sve128; do
  echo "== GGML's CPU variants ($LOFI_GGML_CPU_VARIANTS), qemu -cpu $cpu"
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(aarch64_runner "$cpu")" \
    cargo test --locked --target "$aarch64_triple" -p ggml-sys
done
echo "== GGML's CPU variants, the MusicGen parity tests on armv8.6_2, qemu -cpu $sve128"
CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(aarch64_runner "$sve128")" \
  cargo test --locked --target "$aarch64_triple" -p musicgen --test parity
