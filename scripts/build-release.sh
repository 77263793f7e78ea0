#!/usr/bin/env bash
# Builds lofi-daemon as a release is built and packs it into OUT/lofi-daemon-OS-ARCH.tar.gz, the
# tarball install.sh downloads (its files at the top: lofi-daemon, and on Linux the GGML libraries
# beside it).
#
# On Linux (x86-64 and 64-bit ARM) GGML is built as shared libraries plus one ggml-cpu module per
# CPU variant (LOFI_GGML_CPU_VARIANTS, default all of GGML's: x64 ... zen4, sapphirerapids;
# armv8.0_1 ... armv8.6_2); the daemon finds them beside itself (rpath $ORIGIN) and loads the
# best for the CPU it runs on, so one binary runs on any x86-64 or ARMv8 CPU and uses AVX-512/VNNI,
# or dot products, FP16, SVE and int8 matrix multiply, where present. On macOS GGML's baseline is
# linked in: on Apple silicon Apple's compiler targets the M1 (dot products and FP16 included),
# on Intel Macs it is GGML's AVX2 one.
#
#   scripts/build-release.sh [--debug] [--variants "x64 haswell zen4"] [--out DIR] [--target TRIPLE]
#
# --target cross-builds for another Linux architecture (aarch64-unknown-linux-gnu from x86-64:
# scripts/test-aarch64.sh sets up the cross compiler, ALSA and qemu; the daemon's --version then
# runs under CARGO_TARGET_<TRIPLE>_RUNNER).
# Builds in $CARGO_TARGET_DIR (default target/release-build; settings in scripts/release-env.sh):
# its own settings, so a normal build elsewhere in target/ is not rebuilt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
variants=""
out=dist
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --variants) variants="${2:?--variants needs names}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    --target) target="${2:?--target needs a target triple}"; shift ;;
    *) echo "build-release.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

os="$(uname -s | tr '[:upper:]' '[:lower:]')"
arch="$(uname -m | sed 's/^arm64$/aarch64/; s/^amd64$/x86_64/')" # install.sh's names
runner=()
if [ -n "$target" ]; then
  [ "$os" = linux ] || { echo "build-release.sh: --target cross-builds on Linux only" >&2; exit 2; }
  arch="${target%%-*}"
  runner_variable="CARGO_TARGET_$(echo "$target" | tr '[:lower:]-' '[:upper:]_')_RUNNER"
  read -ra runner <<<"${!runner_variable:-}"
fi
if [ "$os" = linux ]; then
  . scripts/release-env.sh "$variants"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/release-build}" LOFI_GGML_NATIVE=0
fi
build=(cargo build --locked -p lofi-daemon --bin lofi-daemon)
[ "$profile" = debug ] || build+=(--release)
[ -z "$target" ] || build+=(--target "$target")
"${build[@]}"

built="$CARGO_TARGET_DIR/${target:+$target/}$profile"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$built/lofi-daemon" "$stage/"
if [ -n "${LOFI_GGML_CPU_VARIANTS:-}" ]; then
  # ggml-sys's build put them there under the names the daemon and the modules ask for.
  cp "$built"/libggml*.so* "$stage/"
fi
strip_tool=strip
[ -z "$target" ] || strip_tool="${target%-unknown-*}-${target##*-unknown-}-strip" # aarch64-linux-gnu-strip
"$strip_tool" "$stage"/* 2>/dev/null || true
"${runner[@]}" "$stage/lofi-daemon" --version --verbose
mkdir -p "$out"
tarball="$out/lofi-daemon-$os-$arch.tar.gz"
tar -czf "$tarball" -C "$stage" .
echo "build-release.sh: $tarball ($(du -h "$tarball" | cut -f1))"
