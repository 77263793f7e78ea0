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
#   scripts/build-release.sh [--debug] [--variants "x64 haswell zen4"] [--out DIR]
#
# Builds in $CARGO_TARGET_DIR (default target/release-build; settings in scripts/release-env.sh):
# its own settings, so a normal build elsewhere in target/ is not rebuilt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
profile=release
variants=""
out=dist
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --variants) variants="${2:?--variants needs names}"; shift ;;
    --out) out="${2:?--out needs a directory}"; shift ;;
    *) echo "build-release.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

os="$(uname -s | tr '[:upper:]' '[:lower:]')"
arch="$(uname -m | sed 's/^arm64$/aarch64/; s/^amd64$/x86_64/')" # install.sh's names
if [ "$os" = linux ]; then
  . scripts/release-env.sh "$variants"
else
  export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/release-build}" LOFI_GGML_NATIVE=0
fi
build=(cargo build --locked -p lofi-daemon --bin lofi-daemon)
[ "$profile" = debug ] || build+=(--release)
"${build[@]}"

built="$CARGO_TARGET_DIR/$profile"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp "$built/lofi-daemon" "$stage/"
if [ -n "${LOFI_GGML_CPU_VARIANTS:-}" ]; then
  # ggml-sys's build put them there under the names the daemon and the modules ask for.
  cp "$built"/libggml*.so* "$stage/"
fi
strip "$stage"/* 2>/dev/null || true
"$stage/lofi-daemon" --version --verbose
mkdir -p "$out"
tarball="$out/lofi-daemon-$os-$arch.tar.gz"
tar -czf "$tarball" -C "$stage" .
echo "build-release.sh: $tarball ($(du -h "$tarball" | cut -f1))"
