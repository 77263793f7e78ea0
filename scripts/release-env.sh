# Sourced: the cargo settings of a release build whose GGML kernels are chosen at run time
# (Linux). scripts/build-release.sh builds with them; scripts/test-cpu-variants.sh and
# benches/cpu_variants.sh build tests and benchmarks with the same ones, reusing its GGML build.
#   . scripts/release-env.sh "x64 haswell zen4"     (default: LOFI_GGML_CPU_VARIANTS, else all)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target/release-build}"
export LOFI_GGML_CPU_VARIANTS="${1:-${LOFI_GGML_CPU_VARIANTS:-all}}"
# The GGML libraries and CPU modules sit beside the daemon in a release.
export RUSTFLAGS='-C link-arg=-Wl,-rpath,$ORIGIN'
