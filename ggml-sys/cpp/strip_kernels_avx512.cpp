// The AVX512-VNNI level's products with weights in strips (strip_kernels.h): a whole tile's 16
// rows in one register, four products summed per lane.
#include "strip_kernels.h"

#include <algorithm>
#include <type_traits>

#include "cpu_simd.h"
#include "tiles_ahead.h"

#ifdef LOFI_X86
namespace lofi {

namespace {

LOFI_AVX512_BEGIN

// These two take a tile's 128 separate broadcasts (two rows) and 32 repeated 64-byte loads off
// the kernels below: one thread over a weight in L2 ran a Q4_K tile in 71 ns instead of 88 on
// AMD's Zen 4.

// acc + dpbusd(w, the 4 int8 at a broadcast to every lane), the broadcast taken by the
// instruction's memory operand: GCC issues a separate broadcast load for the intrinsic's form.
LOFI_AVX512 inline __m512i dpbusd_broadcast(__m512i acc, __m512i w, const int8_t *a) {
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*reinterpret_cast<const int32_t *>(a)));
    return acc;
}

// 64 bytes loaded into a register once: GCC folds a load into each instruction that uses it (the
// nibbles' mask and shift would read the same 64 bytes twice).
LOFI_AVX512 inline __m512i loaded_once(const void *bytes) {
    __m512i v = _mm512_loadu_si512(bytes);
    asm("" : "+v"(v));
    return v;
}

// Bit `bit` of each byte of `bits` moved to bit 4 of `values` (whose bit 4 is clear): a Q5
// value's fifth bit, put in place by a bitwise select (ternary logic 0xE4: c ? a : b).
LOFI_AVX512 inline __m512i with_fifth_bit(__m512i values, __m512i bits, int bit) {
    const __m512i moved = bit <= 4 ? _mm512_slli_epi16(bits, 4 - bit) : _mm512_srli_epi16(bits, bit - 4);
    return _mm512_ternarylogic_epi32(moved, values, _mm512_set1_epi8(0x10), 0xE4);
}

// Q4's and Q5's.
template <int R, typename Tile, typename = std::enable_if_t<kLowFourBits<Tile>>>
LOFI_AVX512 void superblock_avx512_vnni(const Tile &t, const QuantizedRow *rows, int64_t b, __m512 *acc, TilesAhead &ahead) {
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    __m512i scaled[R], mins[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = mins[r] = _mm512_setzero_si512();
    }
    for (int j = 0; j < 8; j++) {
        ahead.ask();
        // The low and the high nibbles' products summed apart: one sum's chain of 8 dpbusd (5
        // cycles each) left the units idle; with two, a Q4_K tile in L2 took 69 ns, not 79.
        __m512i dot[R], dot_high[R], fifth;
        for (int r = 0; r < R; r++) {
            dot[r] = dot_high[r] = _mm512_setzero_si512();
        }
        if constexpr (kFifthBits<Tile>) {
            fifth = loaded_once(t.fifth_bits[j]);
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            const __m512i w = loaded_once(t.qs[j][g]);
            __m512i low = _mm512_and_si512(w, nibble), high = _mm512_and_si512(_mm512_srli_epi16(w, 4), nibble);
            if constexpr (kFifthBits<Tile>) {
                low = with_fifth_bit(low, fifth, 2 * g);
                high = with_fifth_bit(high, fifth, 2 * g + 1);
            }
            for (int r = 0; r < R; r++) {
                const int8_t *a = group_inputs(rows[r], b, j, g);
                dot[r] = dpbusd_broadcast(dot[r], low, a);
                dot_high[r] = dpbusd_broadcast(dot_high[r], high, a + 4);
            }
        }
        for (int r = 0; r < R; r++) {
            dot[r] = _mm512_add_epi32(dot[r], dot_high[r]);
        }
        const __m512i scale = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.scales[j])));
        for (int r = 0; r < R; r++) {
            scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(dot[r], scale));
        }
    }
    // The mins times each sub-block's input sum, two sub-blocks to a dpwssd: a row's lane holds
    // their two mins (at most 63), the multiplier their sums (|sum| <= 32 * 128: int16).
    for (int p = 0; p < 4; p++) {
        const __m512i min = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.min_pairs[p])));
        for (int r = 0; r < R; r++) {
            mins[r] = _mm512_dpwssd_epi32(mins[r], min, _mm512_set1_epi32(int16_pair(sum32(rows[r], b, 2 * p), sum32(rows[r], b, 2 * p + 1))));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.d)));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.dmin)));
    for (int r = 0; r < R; r++) {
        const __m512 da = _mm512_set1_ps(rows[r].d[b]);
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled[r]), _mm512_mul_ps(d, da), acc[r]);
        acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[r]), _mm512_mul_ps(dmin, da), acc[r]);
    }
}

// Four times the values (the layout's bits 2-7 as they are): their sums are four times the
// products', and the row's scale takes a quarter (both exact: the float result is the same).
template <int R>
LOFI_AVX512 void superblock_avx512_vnni(const StripTileQ6 &t, const QuantizedRow *rows, int64_t b, __m512 *acc, TilesAhead &ahead) {
    const __m512i top6 = _mm512_set1_epi8(static_cast<char>(0xFC));
    __m512i scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm512_setzero_si512();
    }
    for (int s = 0; s < 16; s++) { // 16 inputs, one scale
        ahead.ask();
        __m512i packed[3], quads[4];
        for (int m = 0; m < 3; m++) {
            packed[m] = loaded_once(t.packed[s][m]);
            quads[m] = _mm512_and_si512(packed[m], top6);
        }
        // Each run's bits 0-1 shifted to the fourth group's place (bits 2-3, 4-5, 6-7) and picked
        // by a bitwise select (ternary logic 0xE4: c ? a : b), what the shifts bring in from the
        // neighbouring byte masked off at the end.
        const __m512i from_first_two = _mm512_ternarylogic_epi32(_mm512_slli_epi16(packed[0], 2), _mm512_slli_epi16(packed[1], 4),
                                                                 _mm512_set1_epi8(0x0C), 0xE4);
        quads[3] = _mm512_and_si512(_mm512_ternarylogic_epi32(_mm512_slli_epi16(packed[2], 6), from_first_two,
                                                              _mm512_set1_epi8(static_cast<char>(0xC0)), 0xE4),
                                    top6);
        __m512i dot[R];
        for (int r = 0; r < R; r++) {
            const int8_t *a = rows[r].q + b * kStripSuperblock + 16 * s;
            dot[r] = _mm512_setzero_si512();
            for (int m = 0; m < 4; m++) {
                dot[r] = dpbusd_broadcast(dot[r], quads[m], a + 4 * m);
            }
        }
        const __m512i scale = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.scales[s])));
        for (int r = 0; r < R; r++) { // the values' offset of 32 (times four) taken off
            const __m512i centred = _mm512_sub_epi32(dot[r], _mm512_set1_epi32(128 * rows[r].sums[b * 16 + s]));
            scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(centred, scale));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.d)));
    for (int r = 0; r < R; r++) {
        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled[r]), _mm512_mul_ps(d, _mm512_set1_ps(rows[r].d[b] * 0.25f)), acc[r]);
    }
}

// The values offset by 128 into unsigned bytes (vpdpbusd's first operand), the offset's products
// (128 times the block's input sum) taken off each block's sum.
template <int R>
LOFI_AVX512 void superblock_avx512_vnni(const StripTileQ8 &t, const QuantizedRow *rows, int64_t b, __m512 *acc, TilesAhead &ahead) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    __m512 scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm512_setzero_ps();
    }
    for (int j = 0; j < 8; j++) { // 32 inputs, one scale
        ahead.ask();
        __m512i dot[R], dot_odd[R]; // two chains of dpbusd, as for Q4_K
        for (int r = 0; r < R; r++) {
            dot[r] = dot_odd[r] = _mm512_setzero_si512();
        }
        for (int g = 8 * j; g < 8 * j + 8; g += 2) {
            const __m512i even = _mm512_xor_si512(loaded_once(t.qs[g]), offset);
            const __m512i odd = _mm512_xor_si512(loaded_once(t.qs[g + 1]), offset);
            for (int r = 0; r < R; r++) {
                const int8_t *a = rows[r].q + b * kStripSuperblock + 4 * g;
                dot[r] = dpbusd_broadcast(dot[r], even, a);
                dot_odd[r] = dpbusd_broadcast(dot_odd[r], odd, a + 4);
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.d[j])));
        for (int r = 0; r < R; r++) {
            const __m512i centred = _mm512_sub_epi32(_mm512_add_epi32(dot[r], dot_odd[r]), _mm512_set1_epi32(128 * sum32(rows[r], b, j)));
            scaled[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(centred), d, scaled[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        acc[r] = _mm512_fmadd_ps(scaled[r], _mm512_set1_ps(rows[r].d[b]), acc[r]);
    }
}

template <typename Tile, int R>
LOFI_AVX512 void strips_avx512_vnni(const Tile *tiles, int64_t superblocks, int64_t begin, int64_t end,
                                         const QuantizedRow *rows, float *const *out) {
    for (int64_t s = begin; s < end; s++) {
        __m512 acc[R];
        for (int r = 0; r < R; r++) {
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < superblocks; b++) {
            const Tile &t = tiles[s * superblocks + b];
            TilesAhead ahead = TilesAhead::after(&t, sizeof(Tile), kTilesAheadToL2);
            ahead.pace(kTileSteps<Tile>);
            superblock_avx512_vnni<R>(t, rows, b, acc, ahead);
        }
        for (int r = 0; r < R; r++) {
            _mm512_storeu_ps(out[r] + s * kStripRows, acc[r]);
        }
    }
}

LOFI_AVX512_END

} // namespace

StripKernel strip_kernel_avx512_vnni(StripFormat format) {
    return by_format(format, [](auto tile) -> StripKernel {
        using Tile = typename decltype(tile)::type;
        return one_or_two_rows<Tile, strips_avx512_vnni<Tile, 1>, strips_avx512_vnni<Tile, 2>>;
    });
}

} // namespace lofi
#endif
