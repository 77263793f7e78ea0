# Sourced (bash), from the repository root: builds one of the kernel benchmarks in benches/kernels
# with the engine's sources it drives, against GGML's headers and base library (its fp16
# conversions) as a ggml-sys build installed them (target/PROFILE/ggml-cmake), with the compiler named (g++ for this
# machine, aarch64-linux-gnu-g++ for benches/arm_instructions.sh).
#   build_kernel_bench COMPILER GGML_OUT NAME OUTPUT      (NAME: strip_product, attention, instructions)
#   ggml_install PROFILE_DIR      (the newest static GGML that ggml-sys's build installed there)
ggml_install() {
  local base
  base=$(ls -t "$1"/ggml-cmake/*/lib/libggml-base.a 2>/dev/null | head -1)
  [ -n "$base" ] || { echo "ggml_install: no static GGML under $1/ggml-cmake" >&2; return 1; }
  dirname "$(dirname "$base")"
}
build_kernel_bench() {
  local compiler=$1 ggml_out=$2 name=$3 output=$4 strips="strip_kernels.cpp strip_kernels_avx2.cpp strip_kernels_avx512.cpp strip_kernels_neon.cpp strip_layout.cpp"
  local attention="kv_kernels.cpp kv_kernels_portable.cpp kv_kernels_avx2.cpp kv_kernels_avx512.cpp kv_kernels_neon.cpp"
  local engine file sources=()
  case "$name" in
    strip_product) engine=$strips ;;
    attention) engine=$attention ;;
    instructions) engine="$strips $attention" ;;
    *) echo "build_kernel_bench: no kernel bench $name" >&2; return 2 ;;
  esac
  for file in $engine cpu_features.cpp huge_pages.cpp; do sources+=("ggml-sys/cpp/$file"); done
  "$compiler" -O3 -std=c++17 -fopenmp -I ggml-sys/cpp -I "$ggml_out/include" "benches/kernels/$name.cpp" \
    "${sources[@]}" "$ggml_out/lib/libggml-base.a" -lpthread -lm -o "$output"
}
