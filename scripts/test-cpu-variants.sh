#!/usr/bin/env bash
# GGML's CPU kernels chosen at run time, as a release ships them: scripts/build-release.sh
# (debug profile) with three variants, x64 (the baseline), haswell (AVX2) and zen4 (AVX-512 with
# VNNI and BF16), installed by install.sh from that tarball. Checks that the daemon loads the
# variant this CPU's flags (/proc/cpuinfo) call for and says so in --version --verbose, that
# LOFI_GGML_CPU_VARIANT forces another or fails in one sentence, that the installed daemon
# generates from the fixture model, and that the MusicGen parity tests pass on the chosen
# variant and on the baseline. Builds in build-release.sh's target dir (target/release-build).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
variants="x64 haswell zen4"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test-cpu-variants: $*" >&2; exit 1; }

# build-release.sh's settings, so the parity tests below reuse its build.
. scripts/release-env.sh "$variants"
scripts/build-release.sh --debug --variants "$variants" --out "$tmp/dist" >/dev/null

mkdir -p "$tmp/plugin"
cp install.sh "$tmp/plugin/" && cp -r scripts "$tmp/plugin/"
env HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" LOFI_RELEASE_URL="file://$tmp/dist/lofi-daemon-linux-x86_64.tar.gz" \
  bash "$tmp/plugin/install.sh" >/dev/null
bin="$tmp/plugin/bin"
daemon="$bin/lofi-daemon"
for variant in $variants; do
  [ -f "$bin/libggml-cpu-$variant.so" ] || fail "install.sh did not install the $variant CPU module"
done

# What GGML's scoring must pick: the most capable variant whose instruction sets the CPU has.
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
has() {
  for flag; do [[ "$flags" == *" $flag "* ]] || return 1; done
}
expected=x64
if has sse4_2 avx f16c fma avx2 bmi2; then
  expected=haswell
  if has avx512f avx512cd avx512vl avx512dq avx512bw avx512vbmi avx512_vnni avx512_bf16; then
    expected=zen4
  fi
fi
variant_line() { # [VAR=value]
  env "$@" "$daemon" --version --verbose | sed -n 's/^ggml CPU variant: //p'
}
among="among haswell x64 zen4 in $bin"
[ "$(variant_line)" = "$expected, chosen at run time $among" ] \
  || fail "expected $expected on this CPU, the daemon says: $(variant_line)"
[ "$(variant_line LOFI_GGML_CPU_VARIANT=x64)" = "x64, forced by LOFI_GGML_CPU_VARIANT $among" ] \
  || fail "LOFI_GGML_CPU_VARIANT=x64 not obeyed: $(variant_line LOFI_GGML_CPU_VARIANT=x64)"
"$daemon" --version --verbose | grep -q "^ggml CPU features: .*AVX2" || [ "$expected" = x64 ] \
  || fail "the $expected module does not report AVX2"
LOFI_GGML_CPU_VARIANT=x64 "$daemon" --version --verbose | grep -q "^ggml CPU features: .*AVX" \
  && fail "the x64 module reports AVX"

model=tests/fixtures/musicgen-tiny/model-f16.gguf
for forced in "" x64; do
  LOFI_GGML_CPU_VARIANT="$forced" "$daemon" generate --backend ggml --model "$model" --threads 2 \
    "lofi piano" --duration 1 --seed 3 --out "$tmp/track.wav" >/dev/null
  [ -s "$tmp/track.wav" ] || fail "no track generated on variant '${forced:-$expected}'"
  rm "$tmp/track.wav"
done
# No CPU module to run: the model cannot load, said in one line, and the music goes on procedurally.
LOFI_GGML_CPU_VARIANT=nosuch "$daemon" generate --backend ggml --model "$model" --duration 1 \
  --out "$tmp/track.wav" 2>"$tmp/log"
grep -q "cannot load model .*: the GGML CPU variant 'nosuch' (LOFI_GGML_CPU_VARIANT) is not one this CPU runs among: haswell x64 zen4; using the procedural backend" "$tmp/log" \
  || fail "unclear error for an unknown variant: $(cat "$tmp/log")"
grep -q "^wrote .*procedural" "$tmp/log" || fail "no procedural track after the model failed: $(cat "$tmp/log")"
echo "test-cpu-variants: $expected chosen on this CPU; x64 forced; an unknown variant refused"

for forced in "" x64; do
  echo "== MusicGen parity tests on the ${forced:-$expected} CPU variant"
  LOFI_GGML_CPU_VARIANT="$forced" cargo test --locked -p musicgen --test parity -q
done
