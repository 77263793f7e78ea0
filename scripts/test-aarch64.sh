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
# dot products. Then the daemon as the Linux ARM release ships it (scripts/build-release.sh
# --target, its tarball unpacked as install.sh unpacks it): each emulated CPU's module as the
# daemon reports it, a track from each backend, and the daemon's playback, JSON-RPC, cache and
# ggml backend integration tests — built for this machine — driving the ARM daemon under qemu
# (LOFI_TEST_DAEMON), through ALSA's file plugin. Correctness only: emulated speed says nothing
# (benches/arm_instructions.sh counts the kernels' instructions). Builds into target/aarch64 and target/aarch64-variants (~5
# and ~9 minutes on 2 cores the first time).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-aarch64: $*" >&2; exit 1; }
# The cross build's settings stay in this subshell: the daemon's integration tests below are this
# machine's build, which they would rebuild (and link against ARM's libasound).
(
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

  echo "== the daemon as the Linux ARM release ships it (scripts/build-release.sh --target), under qemu"
  use_aarch64_alsa
  # libasound.so.2 from target/aarch64-alsa; GGML's libraries and modules beside the daemon (rpath).
  daemon_runner() { echo "$(aarch64_runner "$1") -E LD_LIBRARY_PATH=$aarch64_library_path"; }
  CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(daemon_runner max)" \
    scripts/build-release.sh --debug --target "$aarch64_triple" --variants "$LOFI_GGML_CPU_VARIANTS" --out "$tmp/dist" >/dev/null
  mkdir "$tmp/bin"
  tar -xzf "$tmp/dist/lofi-daemon-linux-aarch64.tar.gz" -C "$tmp/bin" # as install.sh unpacks it
  for cpu_variant in cortex-a72:armv8.0_1 neoverse-n1:armv8.2_2 "$sve128:armv8.6_2"; do
    cpu="${cpu_variant%:*}" variant="${cpu_variant##*:}"
    line="$($(daemon_runner "$cpu") "$tmp/bin/lofi-daemon" --version --verbose | sed -n 's/^ggml CPU variant: //p')"
    [ "$line" = "$variant, chosen at run time among $LOFI_GGML_CPU_VARIANTS in $tmp/bin" ] ||
      fail "expected $variant on qemu's $cpu, the daemon says: $line"
  done
  arm_daemon="$(daemon_runner neoverse-n1) $tmp/bin/lofi-daemon"
  # generates BACKEND NAMED [ARGS...]: the ARM daemon makes a track on BACKEND, its model NAMED.
  generates() {
    local backend="$1" named="$2"
    shift 2
    $arm_daemon generate --backend "$backend" "$@" "lofi piano" --duration 1 --seed 3 --out "$tmp/$backend.wav" 2>"$tmp/log" ||
      fail "$backend generation failed: $(cat "$tmp/log")"
    grep -q "^wrote .*, $named" "$tmp/log" || fail "no $backend track: $(cat "$tmp/log")"
  }
  generates ggml musicgen-tiny --model tests/fixtures/musicgen-tiny/model-f16.gguf --threads 2
  generates procedural procedural
  echo "$arm_daemon" >"$tmp/arm-daemon"
)
[ -f "$tmp/arm-daemon" ] || exit 0 # skipped: aarch64-env.sh said why

echo "== the daemon's playback, JSON-RPC, cache and MusicGen tests driving the ARM daemon, qemu -cpu neoverse-n1"
# Built for this machine; LOFI_TEST_DAEMON names the daemon they start, LOFI_TEST_TIME_SCALE gives
# each wait 4 times its 30 s (the fixture generates at about real time under qemu, ~20 times
# faster natively). Playback through ALSA's file plugin, the transport, crossfades and the
# playlist; every error code; the cache shared by two daemons, a kill -9 mid-generation, MP3
# through lame; the ggml backend over JSON-RPC: token progress, a track longer than the context,
# a damaged model, the procedural stand-in and the AI track's crossfade, the model handed back
# unused. Not streaming.rs: it times the stream against a generator it paces to run faster or
# slower than real time, which emulation is not.
LOFI_TEST_DAEMON="$(cat "$tmp/arm-daemon")" LOFI_TEST_TIME_SCALE=4 \
  cargo test --locked -p lofi-daemon --test playback --test rpc --test cache --test ggml_backend
echo "test-aarch64: the Linux ARM release's daemon loads each CPU's GGML module, generates and plays"
