#!/usr/bin/env bash
# Runs the engine's tests (ggml-sys's smoke tests, the MusicGen parity tests) built for 64-bit ARM
# and run under qemu-user: what a Mac's or an ARM Linux machine's CPU runs (GGML's portable
# baseline, our portable kernels), checked on this x86-64 machine. Correctness only: emulated
# speed says nothing. Needs g++-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user
# (install-deps.sh test) and Rust's aarch64-unknown-linux-gnu standard library (added here with
# rustup; skipped, saying so, where it cannot be). Builds into target/aarch64 (~5 minutes on 2
# cores the first time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
triple=aarch64-unknown-linux-gnu
# Rust's standard library for the target comes from rustup's server, not a package registry: where
# it cannot be fetched the ARM tests are skipped, loudly, rather than failing everything else.
if ! rustup target list --installed 2>/dev/null | grep -qx "$triple" && ! rustup target add "$triple"; then
  echo "test-aarch64.sh: SKIPPED: Rust's $triple standard library could not be added (rustup target add $triple)" >&2
  exit 0
fi
export CARGO_TARGET_DIR="$root/target/aarch64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L /usr/aarch64-linux-gnu"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu"
export LOFI_GGML_NATIVE=0 # this machine's instruction set is not the target's
cargo test --locked --target "$triple" -p ggml-sys
cargo test --locked --target "$triple" -p musicgen --test parity
