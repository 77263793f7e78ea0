#!/usr/bin/env bash
# MusicGen speed and memory: GGML (F16, Q8_0, Q5_K_M, Q4_K_M) against PyTorch fp32 on the same random
# musicgen-small-shaped weights, 2 threads. Builds the model with scripts/make_test_model.py
# (creates .venv-model with torch the first time), ~5 GB of disk under target/bench-musicgen.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dir="$PWD/target/bench-musicgen"
python=.venv-model/bin/python
[ -x "$python" ] || python3 scripts/make_test_model.py --help >/dev/null # creates the venv
if [ ! -f "$dir/hf/model.safetensors" ]; then
  python3 scripts/make_test_model.py --shape musicgen-small --out "$dir/hf"
fi
[ -x .venv/bin/python ] || scripts/install-deps.sh test # the converter's packages
cargo build --release -q -p lofi-convert
for type in f16 q8_0 q5_k_m q4_k_m; do
  # Made again when the quantizer was rebuilt since (its type choices may have changed).
  [ "$dir/musicgen-small-random-$type.gguf" -nt target/release/lofi-quantize ] && continue
  [ -f "$dir/f32.gguf" ] || .venv/bin/python scripts/convert_musicgen_to_gguf.py "$dir/hf" --name musicgen-small-random --outtype f32 --out "$dir/f32.gguf"
  target/release/lofi-quantize "$dir/f32.gguf" "$dir/musicgen-small-random-$type.gguf" "$type" >/dev/null
done
rm -f "$dir/f32.gguf"
echo "== this machine"
lscpu | grep -E "^Model name|^Thread|^Core" || true
target/release/lofi-daemon --version --verbose 2>/dev/null | grep -E "CPU variant|CPU features|CPU kernels" ||
  echo "(build lofi-daemon --release to print GGML's CPU features)"
echo "== GGML"
for type in f16 q8_0 q5_k_m q4_k_m; do
  LOFI_BENCH_MODEL="$dir/musicgen-small-random-$type.gguf" cargo bench -q -p musicgen --bench musicgen
done
echo "== the reduced attention caches' logit error against F16 (Q4_K_M)"
LOFI_BENCH_MODEL="$dir/musicgen-small-random-q4_k_m.gguf" cargo bench -q -p musicgen --bench musicgen_kv_cache
echo "== PyTorch baseline"
"$python" benches/musicgen_torch.py "$dir/hf"
