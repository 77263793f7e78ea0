// Which versions of our own CPU kernels (decode-time attention, EnCodec's ELU, the products
// with weights in strips) this CPU runs.
#pragma once

namespace lofi {

// Each level runs the ones below it: the strip products and attention have AVX-512 versions
// (avx512_vnni: AVX-512 F, BW and VNNI), EnCodec's ELU stops at AVX2.
enum class CpuKernels { portable, avx2, avx512_vnni };

// Every level, lowest first (indexed by the enum's value).
inline constexpr CpuKernels kCpuKernelLevels[] = {CpuKernels::portable, CpuKernels::avx2, CpuKernels::avx512_vnni};

// The highest level this CPU runs (whatever the build's baseline), capped by LOFI_CPU_KERNELS
// ("portable" or "avx2": the tests compare the levels).
CpuKernels cpu_kernels();

// At least AVX2 (with FMA and F16C).
bool cpu_kernels_vectorised();

// A row kernel with an AVX2 version (ELU, GELU, softmax): that one where this CPU runs it, the
// portable one otherwise (and off x86, where the AVX2 one is not compiled).
#if defined(__x86_64__) || defined(__i386__)
#define LOFI_ROW_KERNEL(avx2, portable) (::lofi::cpu_kernels_vectorised() ? (avx2) : (portable))
#else
#define LOFI_ROW_KERNEL(avx2, portable) (portable)
#endif

// Whether the kernels ask L1 (prefetcht0) for the block after the one they compute, rather than
// L2 (prefetcht1; cpu_simd.h's ask_for_next): true but on AMD's CPUs. The kernels were tuned with
// L1 on an Intel host (L2 not measured there); on AMD's Zen 4 L2 ran the strips 10-35 % and the
// attention 5-20 % faster (benches/kernels.sh, 2026-12-02).
extern const bool kNextBlockToL1;

// "avx512-vnni", "avx2" or "portable".
const char *cpu_kernels_name(CpuKernels level = cpu_kernels());

// The level of that name; false for any other name.
bool cpu_kernels_named(const char *name, CpuKernels &level);

} // namespace lofi
