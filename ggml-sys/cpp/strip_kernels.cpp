// The portable products with weights in strips (strip_kernels.h), and the choice of a level's:
// a superblock's 16 rows at a time, the rows in the innermost loops, which a compiler vectorises
// (each row's four bytes of a four-input group are 4 apart: NEON's ld4 takes them apart in one
// load).
#include "strip_kernels.h"

#include <algorithm>
#include <type_traits>

namespace lofi {

namespace {

// out[o] += row's superblock b times tile t's row o, for its 16 rows: Q4 and Q5 tiles.
template <typename Tile, typename = std::enable_if_t<kLowFourBits<Tile>>>
void superblock_portable(const Tile &t, const QuantizedRow &row, int64_t b, float *out) {
    int32_t scaled[kStripRows] = {}, mins[kStripRows] = {};
    for (int j = 0; j < 8; j++) {
        int32_t dot[kStripRows] = {};
        for (int g = 0; g < 4; g++) {
            // Q5's fifth bits as 16 or 0, made in a loop over bytes of their own (inside the rows'
            // loop below they took 1.45x its time on SSE2).
            uint8_t fifth_low[4 * kStripRows], fifth_high[4 * kStripRows];
            if constexpr (kFifthBits<Tile>) {
                for (int k = 0; k < 4 * kStripRows; k++) {
                    fifth_low[k] = (t.fifth_bits[j][k] >> (2 * g) & 1) << 4;
                    fifth_high[k] = (t.fifth_bits[j][k] >> (2 * g + 1) & 1) << 4;
                }
            }
            const int8_t *a = group_inputs(row, b, j, g);
            for (int o = 0; o < kStripRows; o++) {
                for (int i = 0; i < 4; i++) {
                    const uint8_t packed = t.qs[j][g][4 * o + i];
                    int32_t low = packed & 0x0F, high = packed >> 4;
                    if constexpr (kFifthBits<Tile>) {
                        low |= fifth_low[4 * o + i];
                        high |= fifth_high[4 * o + i];
                    }
                    dot[o] += low * a[i] + high * a[i + 4];
                }
            }
        }
        const int32_t sum = sum32(row, b, j);
        for (int o = 0; o < kStripRows; o++) {
            scaled[o] += dot[o] * t.scales[j][o];
            mins[o] += t.min_pairs[j / 2][2 * o + j % 2] * sum;
        }
    }
    for (int o = 0; o < kStripRows; o++) {
        out[o] += row.d[b] * (ggml_fp16_to_fp32(t.d[o]) * static_cast<float>(scaled[o]) -
                              ggml_fp16_to_fp32(t.dmin[o]) * static_cast<float>(mins[o]));
    }
}

void superblock_portable(const StripTileQ6 &t, const QuantizedRow &row, int64_t b, float *out) {
    int32_t scaled[kStripRows] = {};
    for (int s = 0; s < 16; s++) { // 16 inputs, one scale
        const int8_t *a = row.q + b * kStripSuperblock + 16 * s;
        int32_t dot[kStripRows] = {};
        for (int m = 0; m < 3; m++) { // inputs 4m..4m+3: bits 2-7 of packed[s][m]
            for (int o = 0; o < kStripRows; o++) {
                for (int i = 0; i < 4; i++) {
                    dot[o] += (t.packed[s][m][4 * o + i] >> 2) * a[4 * m + i];
                }
            }
        }
        for (int o = 0; o < kStripRows; o++) { // inputs 12..15: bits 0-1 of the three
            for (int i = 0; i < 4; i++) {
                const int byte = 4 * o + i;
                const int32_t q = (t.packed[s][0][byte] & 3) | (t.packed[s][1][byte] & 3) << 2 | (t.packed[s][2][byte] & 3) << 4;
                dot[o] += q * a[12 + i];
            }
        }
        const int32_t offset = 32 * row.sums[b * 16 + s];
        for (int o = 0; o < kStripRows; o++) {
            scaled[o] += (dot[o] - offset) * t.scales[s][o];
        }
    }
    for (int o = 0; o < kStripRows; o++) {
        out[o] += row.d[b] * ggml_fp16_to_fp32(t.d[o]) * static_cast<float>(scaled[o]);
    }
}

void superblock_portable(const StripTileQ8 &t, const QuantizedRow &row, int64_t b, float *out) {
    float scaled[kStripRows] = {};
    for (int j = 0; j < 8; j++) { // 32 inputs, one scale
        int32_t dot[kStripRows] = {};
        for (int g = 8 * j; g < 8 * j + 8; g++) {
            const int8_t *a = row.q + b * kStripSuperblock + 4 * g;
            for (int o = 0; o < kStripRows; o++) {
                for (int i = 0; i < 4; i++) {
                    dot[o] += t.qs[g][4 * o + i] * a[i];
                }
            }
        }
        for (int o = 0; o < kStripRows; o++) {
            scaled[o] += ggml_fp16_to_fp32(t.d[j][o]) * static_cast<float>(dot[o]);
        }
    }
    for (int o = 0; o < kStripRows; o++) {
        out[o] += row.d[b] * scaled[o];
    }
}

template <typename Tile>
void strips_portable(const void *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows, int n_rows,
                     float *const *out) {
    const auto *strip_tiles = static_cast<const Tile *>(tiles);
    for (int64_t s = begin; s < end; s++) {
        for (int r = 0; r < n_rows; r++) {
            float acc[kStripRows] = {};
            for (int64_t b = 0; b < superblocks; b++) {
                superblock_portable(strip_tiles[s * superblocks + b], rows[r], b, acc);
            }
            std::copy(acc, acc + kStripRows, out[r] + s * kStripRows);
        }
    }
}

} // namespace

StripKernel strip_kernel(StripFormat format, CpuKernels level) {
    switch (level) {
#if defined(__x86_64__) || defined(__i386__)
    case CpuKernels::avx512_vnni:
        return strip_kernel_avx512_vnni(format);
    case CpuKernels::avx_vnni:
        return strip_kernel_avx_vnni(format);
    case CpuKernels::avx2:
        return strip_kernel_avx2(format);
#endif
#ifdef __aarch64__
    case CpuKernels::neon_dotprod:
        return strip_kernel_neon_dotprod(format);
#endif
    default:
        break;
    }
    return by_format(format, [](auto tile) -> StripKernel { return strips_portable<typename decltype(tile)::type>; });
}

} // namespace lofi
