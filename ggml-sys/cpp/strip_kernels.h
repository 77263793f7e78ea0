// The CPU kernels of the products with weights in strips (strip_layout.h): per format, a
// portable, an AVX2, an AVX-VNNI (Q5_K and Q8_0: AVX2's), an AVX512-VNNI and, on 64-bit ARM, a
// NEON dot product version, chosen by level (cpu_features.h).
#pragma once

#include <cstdint>
#include <type_traits>

#include "cpu_features.h"
#include "strip_layout.h"

namespace lofi {

// Inputs per sum of a quantized row (Q6_K's scales cover 16 inputs, Q4_K's mins 32: two sums).
constexpr int64_t kStripSumInputs = 16;

// One input row quantized as the K-quant products take it (GGML's Q8_K): int8 values, one scale
// per superblock, and the sum of each 16 values.
struct QuantizedRow {
    const int8_t *q;
    const float *d;
    const int32_t *sums;
};

// Q4_K's mins cover 32 inputs: sub-block j's sum.
inline int32_t sum32(const QuantizedRow &row, int64_t b, int j) { return row.sums[b * 16 + 2 * j] + row.sums[b * 16 + 2 * j + 1]; }

// The inputs of sub-block j, group g (8 inputs) of superblock b.
inline const int8_t *group_inputs(const QuantizedRow &row, int64_t b, int j, int g) {
    return row.q + b * kStripSuperblock + 32 * j + 8 * g;
}

// Q5_K's tiles are Q4_K's and a fifth bit per value.
template <typename Tile> constexpr bool kFifthBits = std::is_same_v<Tile, StripTileQ5>;
template <typename Tile> constexpr bool kLowFourBits = std::is_same_v<Tile, StripTileQ4> || kFifthBits<Tile>;

// Strips [begin, end) of a weight of `superblocks` superblocks per row, times n_rows (1 or 2)
// quantized rows: out[r][strip * 16 + i].
using StripKernel = void (*)(const void *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                             int n_rows, float *const *out);

// The kernel of that format and level (one this CPU runs).
StripKernel strip_kernel(StripFormat format, CpuKernels level);

#ifdef __aarch64__
// The neon-dotprod level's kernel of that format (strip_kernels_neon.cpp).
StripKernel strip_kernel_neon_dotprod(StripFormat format);
#endif

} // namespace lofi
