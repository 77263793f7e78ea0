// Which versions of our own CPU kernels (decode-time attention, EnCodec's ELU, the products
// with weights in strips) this CPU runs.
#pragma once

namespace lofi {

// Each level is faster than the ones below it where a CPU runs both: avx_vnni is the strip
// products and the int8 attention on VNNI's 256-bit vpdpbusd (Intel since Alder Lake, AMD since
// Zen 5: the laptops without AVX-512), avx512_vnni the same on AVX-512 F, BW and VNNI; EnCodec's
// ELU stops at AVX2. A CPU may run avx512_vnni but not avx_vnni (Zen 4, Ice
// Lake): the levels are not a chain of CPU features, a level's kernels use only its own.
// neon_dotprod is 64-bit ARM's (Armv8.2-A's dot products: every Apple CPU, ARM's cores since
// Cortex-A55/A76, AWS Graviton 2 and later): the strip products, the attention and its softmax,
// ELU, GELU and the Q8_K quantization of the products' inputs.
enum class CpuKernels { portable, avx2, avx_vnni, avx512_vnni, neon_dotprod };

// Every level, lowest first (indexed by the enum's value); no CPU runs both x86's and ARM's.
inline constexpr CpuKernels kCpuKernelLevels[] = {CpuKernels::portable, CpuKernels::avx2, CpuKernels::avx_vnni,
                                                  CpuKernels::avx512_vnni, CpuKernels::neon_dotprod};

// Whether this CPU has the instructions of that level's kernels (whatever the build's baseline).
bool cpu_runs(CpuKernels level);

// The highest level this CPU runs, capped by LOFI_CPU_KERNELS (a level's name: the highest this
// CPU runs at or below it; the tests compare the levels).
CpuKernels cpu_kernels();

// x86's at least AVX2 (with FMA and F16C).
bool cpu_kernels_vectorised();

// A row kernel with AVX2 and NEON versions (ELU, GELU, the softmax, Q8_K quantization): x86's
// at an AVX2 level, ARM's at neon-dotprod (only the version of the CPU's architecture is
// compiled), the portable one otherwise.
#if defined(__x86_64__) || defined(__i386__)
#define LOFI_ROW_KERNEL(avx2, neon, portable) (::lofi::cpu_kernels_vectorised() ? (avx2) : (portable))
#elif defined(__aarch64__)
#define LOFI_ROW_KERNEL(avx2, neon, portable) (::lofi::cpu_kernels() == ::lofi::CpuKernels::neon_dotprod ? (neon) : (portable))
#else
#define LOFI_ROW_KERNEL(avx2, neon, portable) (portable)
#endif

// Whether the kernels ask L1 (prefetcht0) for the block after the one they compute, rather than
// L2 (prefetcht1; cpu_simd.h's ask_for_next): true but on AMD's CPUs. The kernels were tuned with
// L1 on an Intel host (L2 not measured there); on AMD's Zen 4 L2 ran the strips 10-35 % and the
// attention 5-20 % faster (benches/kernels.sh, 2026-12-02).
extern const bool kNextBlockToL1;

// "neon-dotprod", "avx512-vnni", "avx-vnni", "avx2" or "portable".
const char *cpu_kernels_name(CpuKernels level = cpu_kernels());

// The level of that name; false for any other name.
bool cpu_kernels_named(const char *name, CpuKernels &level);

} // namespace lofi
