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

// A 32-bit lane holding `low` in its low int16 and `high` in its high one (both within int16):
// the input sums madd (dpwssd) multiplies a row's pair of int16 lanes by.
inline int32_t int16_pair(int32_t low, int32_t high) {
    return static_cast<int32_t>((static_cast<uint32_t>(low) & 0xFFFFu) | (static_cast<uint32_t>(high) << 16));
}

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

// Each vector level's kernel of that format: strip_kernels_avx2.cpp, strip_kernels_avx512.cpp,
// strip_kernels_neon.cpp (strip_kernels.cpp's the portable ones).
#if defined(__x86_64__) || defined(__i386__)
StripKernel strip_kernel_avx2(StripFormat format);
StripKernel strip_kernel_avx_vnni(StripFormat format); // Q5_K's and Q8_0's AVX2's
StripKernel strip_kernel_avx512_vnni(StripFormat format);
#endif
#ifdef __aarch64__
StripKernel strip_kernel_neon_dotprod(StripFormat format);
#endif

// What the levels' files share to make their kernels:

template <typename Tile> struct TileType {
    using type = Tile;
};

// kernel_of(TileType<Tile>{}) for the tiles of `format`.
template <typename KernelOf> StripKernel by_format(StripFormat format, KernelOf &&kernel_of) {
    switch (format) {
    case StripFormat::q4_k:
        return kernel_of(TileType<StripTileQ4>{});
    case StripFormat::q5_k:
        return kernel_of(TileType<StripTileQ5>{});
    case StripFormat::q6_k:
        return kernel_of(TileType<StripTileQ6>{});
    case StripFormat::q8_0:
        break;
    }
    return kernel_of(TileType<StripTileQ8>{});
}

// Strips of a level's kernel for R input rows.
template <typename Tile, int R> using RowsKernel = void (*)(const Tile *, int64_t, int64_t, int64_t, const QuantizedRow *, float *const *);

// A level's kernel for one input row or two (a guided step's branches).
template <typename Tile, RowsKernel<Tile, 1> one, RowsKernel<Tile, 2> two>
void one_or_two_rows(const void *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows, int n_rows,
                     float *const *out) {
    (n_rows == 2 ? two : one)(static_cast<const Tile *>(tiles), superblocks, begin, end, rows, out);
}

// Tiles on from the one computed that the vector kernels ask L2 for (tiles_ahead.h): ~14 kB of
// Q4_K, ~17 kB of Q5_K, ~20 kB of Q6_K, ~26 kB of Q8_0 ahead. Past a thread's last strip these
// are the next strip's or past the weight: a prefetch never faults.
constexpr int kTilesAheadToL2 = 6;

// The steps of the kernels' loop over a tile (or a half of it), at each of which they ask for a
// share of the tiles ahead: Q4_K's and Q5_K's 8 sub-blocks, Q6_K's 16 scales, Q8_0's 8 blocks.
template <typename Tile> constexpr int kTileSteps = std::is_same_v<Tile, StripTileQ6> ? 16 : 8;

} // namespace lofi
