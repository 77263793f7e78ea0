#!/usr/bin/env bash
# Installs what the tests need, then runs every check: formatting, lints, all tests.
# Usage: scripts/test.sh        (the README's test command; .ci/run calls it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="$HOME/.cargo/bin:$PATH" # cargo-installed stylua
if [ "${CI:-}" = true ]; then
    # A fresh clone builds once: incremental state (~1 GB) would only fill the disk.
    export CARGO_INCREMENTAL=0
fi
# The builds need ~12 GB (a CI clone, 2026-12-05: target/debug 4.4 GB, test-cpu-variants.sh's
# release build 1.8, test-aarch64.sh's two ARM builds 1.5 and 2.4 with the ARM daemon,
# test-vulkan.sh's ~0.7, in target/debug since 2026-12-06). In CI each of those stages drops its own folder once it passed, so the
# disk holds target/debug and one stage's folders at a time: ~9 GB. Say so up front rather than
# fail half-way with ENOSPC, and name the free space with any failure (a full disk fails a link
# with a message cargo cuts short).
need_gb=12
if [ "${CI:-}" = true ]; then need_gb=9; fi
drop_in_ci() {
    if [ "${CI:-}" = true ]; then rm -rf "$@"; fi
}
free_gb() { df -Pk . | awk 'NR == 2 { print int($4 / 1048576) }'; }
if [ "$(free_gb)" -lt "$need_gb" ]; then
    echo "warning: only $(free_gb) GB free here; the build and tests need about $need_gb GB" >&2
fi
trap 'echo "scripts/test.sh failed with $(free_gb) GB free on this disk" >&2' ERR

# Each stage's wall time, printed as it ends and summed up at the end, so a CI log says where its
# minutes went (the budget is 60).
stage_name="install what the tests need"
stage_start=$SECONDS
stage_times=""
stage() {
    local took=$((SECONDS - stage_start))
    echo "-- ${took} s: ${stage_name}"
    stage_times+="$(printf '%6d s  %s' "$took" "$stage_name")"$'\n'
    stage_name="$1"
    stage_start=$SECONDS
    echo "== $1"
}
scripts/install-deps.sh test

stage "cargo fmt --check"
cargo fmt --all -- --check
stage "stylua --check"
stylua --check lua plugin tests/lua benches
stage "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
stage "cargo test"
# lame is installed above, so the MP3 tests must run rather than skip.
LOFI_REQUIRE_LAME=1 cargo test --workspace --locked
stage "the MusicGen parity tests on the lower levels of our CPU kernels (attention, ELU, K-quant products; the above ran the CPU's best)"
# (avx-vnni where the daemon finds this CPU runs it: elsewhere that cap would run avx2 again).
# The parity test binary cargo test built above, run as cargo runs it (from its package): any
# other selection than the whole workspace's (`-p musicgen`, or `--workspace --test parity`, which
# leaves the other packages' dev-dependencies out) resolves some dependencies' features otherwise
# and rebuilds them (3m40s, and 74 s, in CI rehearsals on 2026-12-06).
parity_test=$(cargo test --workspace --locked --no-run --message-format=json | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "parity" and m.get("executable"):
        print(m["executable"])')
[ -n "$parity_test" ] || { echo "scripts/test.sh: cargo test built no parity test binary" >&2; exit 1; }
[ -x target/debug/lofi-daemon ] || cargo build -q --locked -p lofi-daemon
if LOFI_CPU_KERNELS=avx-vnni target/debug/lofi-daemon --version --verbose | grep "kernels.*: avx-vnni " >/dev/null; then
  (cd musicgen && LOFI_CPU_KERNELS=avx-vnni "$parity_test")
fi
(cd musicgen && LOFI_CPU_KERNELS=avx2 "$parity_test")
(cd musicgen && LOFI_CPU_KERNELS=portable "$parity_test")
stage "the kernel benchmarks build (benches/kernels.sh --build)"
benches/kernels.sh --build
stage "GGML's CPU kernels chosen at run time in a release build (scripts/test-cpu-variants.sh)"
scripts/test-cpu-variants.sh
drop_in_ci target/release-build
stage "the MusicGen engine on a GPU backend (Vulkan over Mesa's lavapipe; scripts/test-vulkan.sh)"
scripts/test-vulkan.sh
drop_in_ci target/vulkan
stage "the engine's tests built for 64-bit ARM, under qemu-user (scripts/test-aarch64.sh)"
scripts/test-aarch64.sh
drop_in_ci target/aarch64 target/aarch64-variants target/aarch64-alsa
stage "model converter tests (scripts/test_convert.py)"
LOFI_QUANTIZE=target/debug/lofi-quantize .venv/bin/python scripts/test_convert.py
stage "install.sh --model from a Hugging Face cache, offline (scripts/test_install_model.sh)"
scripts/test_install_model.sh
stage "plugin tests (busted in headless Neovim 0.11, against target/debug/lofi-daemon)"
.venv/bin/nvim -l tests/lua/run.lua tests/lua
stage "done"
printf '== stage times (%d s in all)\n%s' "$SECONDS" "$stage_times"
