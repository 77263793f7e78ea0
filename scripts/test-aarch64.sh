#!/usr/bin/env bash
# Runs the engine's tests (ggml-sys's smoke tests, the MusicGen parity tests) built for 64-bit ARM
# and run under qemu-user: what a Mac's or an ARM Linux machine's CPU runs (GGML's portable
# baseline; our neon-dotprod strip products and attention), checked on this x86-64 machine.
# Correctness only: emulated speed says nothing (benches/arm_instructions.sh counts the kernels'
# instructions). Builds into target/aarch64 (~5 minutes on 2 cores the first time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/aarch64-env.sh
cargo test --locked --target "$aarch64_triple" -p ggml-sys
cargo test --locked --target "$aarch64_triple" -p musicgen --test parity
