#!/usr/bin/env bash
# GGML's CPU kernels chosen at run time (a release build) against a native build, on this host:
# the MusicGen bench (benches/musicgen.rs) on the random musicgen-small-shaped Q4_K_M model
# (benches/musicgen.sh makes it), 2 threads, 30 s of audio (LOFI_BENCH_SECONDS), one run each:
# the native static build, then a release build on each of its variants this CPU runs
# (default x64 haswell zen4 sapphirerapids: the baseline, AVX2-only laptops, AVX-512 and AMX).
#   benches/cpu_variants.sh ["x64 haswell zen4 sapphirerapids"]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model="$PWD/target/bench-musicgen/musicgen-small-random-q4_k_m.gguf"
[ -f "$model" ] || { echo "cpu_variants.sh: no $model; benches/musicgen.sh makes it" >&2; exit 1; }
variants="${1:-x64 haswell zen4 sapphirerapids}"
export LOFI_BENCH_MODEL="$model" LOFI_BENCH_SECONDS="${LOFI_BENCH_SECONDS:-30}"
lscpu | grep -E "^Model name" || true

echo "== native build (GGML for this machine, linked in)"
cargo bench -q --locked -p musicgen --bench musicgen
. scripts/release-env.sh "$variants"
for variant in $variants; do
  echo "== release build, LOFI_GGML_CPU_VARIANT=$variant"
  LOFI_GGML_CPU_VARIANT="$variant" cargo bench -q --locked -p musicgen --bench musicgen 2>/dev/null ||
    echo "(this CPU does not run $variant)"
done
