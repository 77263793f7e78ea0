# Sourced (bash): cross-builds for 64-bit ARM with GCC's cross compiler and runs what it builds
# under qemu-user (scripts/test-aarch64.sh, benches/arm_instructions.sh). Needs
# g++-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user (install-deps.sh test) and Rust's
# aarch64-unknown-linux-gnu standard library, added here with rustup: where it cannot be (it comes
# from rustup's server, not a package registry) the sourcing script stops there, successfully,
# saying it skipped, rather than failing everything else. Builds into target/aarch64 (and
# target/aarch64-variants: use_aarch64_release_ggml).
aarch64_triple=aarch64-unknown-linux-gnu
if ! rustup target list --installed 2>/dev/null | grep -qx "$aarch64_triple" && ! rustup target add "$aarch64_triple"; then
  echo "$(basename "$0"): SKIPPED: Rust's $aarch64_triple standard library could not be added (rustup target add $aarch64_triple)" >&2
  exit 0
fi
export CARGO_TARGET_DIR="$root/target/aarch64"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# qemu-user on the emulated CPU named, by default max: a CPU with Armv8.2-A's dot products, so the
# neon-dotprod kernels run (the tests compare them with GGML's products and the portable ones).
# By its full path: the daemon's tests start the ARM daemon with a PATH of their own (LOFI_TEST_DAEMON).
aarch64_runner() { echo "$(command -v qemu-aarch64) -cpu ${1:-max} -L /usr/aarch64-linux-gnu"; }
read -ra aarch64_qemu <<<"$(aarch64_runner)"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$(aarch64_runner)"
# GGML as the Linux ARM release builds it (scripts/build-release.sh), with three of its CPU variants:
# a Raspberry Pi 4's (NEON), a Pi 5's or Graviton 2's (dot products, FP16) and the most capable
# (SVE2, int8 matrix multiply), in a target directory of its own.
# With the release's rpath too (scripts/release-env.sh), so that the daemon's release build reuses
# what the tests built there.
use_aarch64_release_ggml() {
  CARGO_TARGET_DIR="$root/target/aarch64-variants" . "$root/scripts/release-env.sh" "armv8.0_1 armv8.2_2 armv8.6_2"
}
# The daemon links ALSA's libasound (cpal): Debian's arm64 packages, downloaded by apt (install-deps.sh
# test adds the arm64 architecture) and unpacked into target/aarch64-alsa rather than installed —
# installing them would install Debian's arm64 libc beside the cross compiler's, and qemu's loader
# would then take the one with the other. Sets aarch64_library_path to libasound.so.2's directory
# (for the daemon's LD_LIBRARY_PATH under qemu).
use_aarch64_alsa() {
  local sysroot="$root/target/aarch64-alsa" libdir=usr/lib/aarch64-linux-gnu
  if [ ! -f "$sysroot/$libdir/pkgconfig/alsa.pc" ]; then
    local debs
    debs="$(mktemp -d)"
    (cd "$debs" && apt-get download -q libasound2:arm64 libasound2-dev:arm64 >/dev/null 2>&1) ||
      { echo "$(basename "$0"): cannot download Debian's arm64 libasound2 (install-deps.sh test adds the arm64 architecture to apt)" >&2; return 1; }
    mkdir -p "$sysroot"
    for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$sysroot"; done
    rm -rf "$debs"
  fi
  export PKG_CONFIG_ALLOW_CROSS=1 PKG_CONFIG_SYSROOT_DIR="$sysroot" PKG_CONFIG_LIBDIR="$sysroot/$libdir/pkgconfig"
  aarch64_library_path="$sysroot/$libdir"
}
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc CXX_aarch64_unknown_linux_gnu=aarch64-linux-gnu-g++
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export BINDGEN_EXTRA_CLANG_ARGS_aarch64_unknown_linux_gnu="--sysroot=/usr/aarch64-linux-gnu"
export LOFI_GGML_NATIVE=0 # this machine's instruction set is not the target's
