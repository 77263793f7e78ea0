// Which versions of our own CPU kernels (decode-time attention, EnCodec's ELU) this CPU runs.
#pragma once

namespace lofi {

// True where the CPU has AVX2, FMA and F16C (whatever the build's baseline) and
// LOFI_CPU_KERNELS=portable does not force the portable C++ ones (the tests compare both).
bool cpu_kernels_vectorised();

// "avx2" or "portable".
const char *cpu_kernels_name();

} // namespace lofi
