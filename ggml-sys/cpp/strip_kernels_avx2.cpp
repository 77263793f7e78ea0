// The AVX2 and AVX-VNNI levels' products with weights in strips (strip_kernels.h): each half of
// a tile (rows 8h..8h+7, 32 bytes of every 64) in turn, 8 rows to a register.
#include "strip_kernels.h"

#include <algorithm>
#include <type_traits>

#include "cpu_simd.h"
#include "tiles_ahead.h"

#ifdef LOFI_X86
namespace lofi {

namespace {

// maddubs multiplies the unsigned values by the int8 inputs, pairs summed in int16: eight of
// Q4's (at most 8 * 2 * 15 * 127 = 30480) add up in int16; a row's two int16 lanes then meet its
// scale in one madd (no int32 multiply: mullo is two uops of ten cycles' latency, and the AVX2
// level had 32 per superblock and row pair). Q6's (up to 63) meet their scale two at a time.

// Row k's byte from `first` and from `second` (eight rows each) in int16 lanes 2k and 2k + 1:
// madd's multiplier for a row's pair of lanes. Unsigned (Q4_K's scales and mins) or signed
// (Q6_K's scales).
LOFI_AVX2 inline __m128i interleaved_rows(const void *first, const void *second) {
    return _mm_unpacklo_epi8(_mm_loadl_epi64(static_cast<const __m128i *>(first)), _mm_loadl_epi64(static_cast<const __m128i *>(second)));
}
LOFI_AVX2 inline __m256i row_lane_pairs(const uint8_t *first, const uint8_t *second) {
    return _mm256_cvtepu8_epi16(interleaved_rows(first, second));
}
LOFI_AVX2 inline __m256i row_lane_pairs(const int8_t *first, const int8_t *second) {
    return _mm256_cvtepi8_epi16(interleaved_rows(first, second));
}

// int16_pair in every lane.
LOFI_AVX2 inline __m256i int16_pairs(int32_t low, int32_t high) { return _mm256_set1_epi32(int16_pair(low, high)); }

// acc[r] += the half's scales times scaled[r] less its mins' scales times the mins' products with
// row r's sub-block sums, both times row r's scale: the end of a Q4_K half-tile on the AVX2
// levels. The mins meet the sums two sub-blocks to a madd: a row's lanes hold sub-block j's and
// j + 1's min (at most 63), the multiplier their sums (|sum| <= 32 * 127: int16).
template <int R, typename Tile>
LOFI_AVX2 inline void add_q4_half(const Tile &t, const QuantizedRow *rows, int64_t b, int h, const __m256i *scaled,
                                  __m256 *acc) {
    __m256i mins[R];
    for (int r = 0; r < R; r++) {
        mins[r] = _mm256_setzero_si256();
    }
    for (int j = 0; j < 8; j += 2) {
        const __m256i min = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.min_pairs[j / 2] + 16 * h)));
        for (int r = 0; r < R; r++) {
            mins[r] = _mm256_add_epi32(mins[r], _mm256_madd_epi16(min, int16_pairs(sum32(rows[r], b, j), sum32(rows[r], b, j + 1))));
        }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.d + 8 * h)));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.dmin + 8 * h)));
    for (int r = 0; r < R; r++) {
        const __m256 da = _mm256_set1_ps(rows[r].d[b]);
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(scaled[r]), _mm256_mul_ps(d, da), acc[r]);
        acc[r] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins[r]), _mm256_mul_ps(dmin, da), acc[r]);
    }
}

// Bit `bit` of each byte moved to bit 4, the others cleared: a Q5 value's fifth bit, 16 or 0.
// (A 16-bit shift by at most 4 toward bit 4 brings nothing from the neighbouring byte there.)
LOFI_AVX2 inline __m256i fifth_bit(__m256i bits, int bit) {
    const __m256i moved = bit <= 4 ? _mm256_slli_epi16(bits, 4 - bit) : _mm256_srli_epi16(bits, bit - 4);
    return _mm256_and_si256(moved, _mm256_set1_epi8(0x10));
}

// v where GCC sees it computed, so that a chain of adds stays a chain: GCC 12 reassociated the
// int16 sums of a sub-block's eight products (two rows) into a tree whose temporaries, with the
// accumulators, spilled to the stack (16 registers); kept in order, a Q4_K tile from L2 took
// 87-89 ns instead of 96-116 on Zen 4 at avx2 (benches/kernels.sh, the builds alternated).
LOFI_AVX2 inline __m256i chained(__m256i v) {
    asm("" : "+x"(v));
    return v;
}

// Q4's and Q5's: Q5's values (up to 31) add up in int16 two groups at a time (at most 4 * 2 * 31 *
// 127 = 31496) before they meet the scale, Q4's four (8 * 2 * 15 * 127 = 30480).
template <int R, typename Tile, typename = std::enable_if_t<kLowFourBits<Tile>>>
LOFI_AVX2 void superblock_avx2(const Tile &t, const QuantizedRow *rows, int64_t b, int h, __m256 *acc, TilesAhead &ahead) {
    constexpr int kGroupsPerMadd = kFifthBits<Tile> ? 2 : 4;
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm256_setzero_si256();
    }
    for (int j = 0; j < 8; j++) {
        ahead.ask();
        const __m256i scale = row_lane_pairs(t.scales[j] + 8 * h, t.scales[j] + 8 * h); // at most 63: 2 * 31496 * 63 fits int32
        __m256i fifth, pairs[R];
        if constexpr (kFifthBits<Tile>) {
            fifth = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.fifth_bits[j] + 32 * h));
        }
        for (int r = 0; r < R; r++) {
            pairs[r] = _mm256_setzero_si256();
        }
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.qs[j][g] + 32 * h));
            __m256i low = _mm256_and_si256(w, nibble), high = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble);
            if constexpr (kFifthBits<Tile>) {
                low = _mm256_or_si256(low, fifth_bit(fifth, 2 * g));
                high = _mm256_or_si256(high, fifth_bit(fifth, 2 * g + 1));
            }
            for (int r = 0; r < R; r++) {
                const int8_t *a = group_inputs(rows[r], b, j, g);
                pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(low, broadcast4(a)));
                pairs[r] = chained(_mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(high, broadcast4(a + 4))));
            }
            if (g % kGroupsPerMadd == kGroupsPerMadd - 1) {
                for (int r = 0; r < R; r++) {
                    scaled[r] = _mm256_add_epi32(scaled[r], _mm256_madd_epi16(pairs[r], scale));
                    pairs[r] = _mm256_setzero_si256();
                }
            }
        }
    }
    add_q4_half<R>(t, rows, b, h, scaled, acc);
}

// acc[r] += scaled[r] less the values' offset of 32 (32 * the sum over s of scale_s times row r's
// inputs' sum over s), times the half's scales and row r's scale: the end of a Q6_K half-tile on
// the AVX2 levels, whose products hold the values once (AVX2) or Times = 4 times (AVX-VNNI, bits
// 2-7 as they are; a quarter of the scale is exact). The offsets two s to a madd (|sum| <= 16 *
// 127: int16).
template <int R, int Times>
LOFI_AVX2 inline void add_q6_half(const StripTileQ6 &t, const QuantizedRow *rows, int64_t b, int h, const __m256i *scaled,
                                  __m256 *acc) {
    static_assert(Times == 1 || Times == 4, "the values once or four times");
    constexpr int kOffsetShift = Times == 1 ? 5 : 7; // times 32 * Times
    __m256i offsets[R];
    for (int r = 0; r < R; r++) {
        offsets[r] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 16; s += 2) {
        const __m256i scales = row_lane_pairs(t.scales[s] + 8 * h, t.scales[s + 1] + 8 * h);
        for (int r = 0; r < R; r++) {
            const int32_t *sums = rows[r].sums + b * 16 + s;
            offsets[r] = _mm256_add_epi32(offsets[r], _mm256_madd_epi16(scales, int16_pairs(sums[0], sums[1])));
        }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.d + 8 * h)));
    for (int r = 0; r < R; r++) {
        const __m256i centred = _mm256_sub_epi32(scaled[r], _mm256_slli_epi32(offsets[r], kOffsetShift));
        acc[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(centred), _mm256_mul_ps(d, _mm256_set1_ps(rows[r].d[b] * (1.0f / Times))), acc[r]);
    }
}

template <int R>
LOFI_AVX2 void superblock_avx2(const StripTileQ6 &t, const QuantizedRow *rows, int64_t b, int h, __m256 *acc, TilesAhead &ahead) {
    const __m256i top6 = _mm256_set1_epi8(static_cast<char>(0xFC)), low2 = _mm256_set1_epi8(0x03);
    __m256i scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 16; s++) { // 16 inputs, one scale
        ahead.ask();
        const __m256i scale = row_lane_pairs(t.scales[s] + 8 * h, t.scales[s] + 8 * h);
        __m256i packed[3], values[4];
        for (int m = 0; m < 3; m++) {
            packed[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.packed[s][m] + 32 * h));
            values[m] = _mm256_srli_epi16(_mm256_and_si256(packed[m], top6), 2);
        }
        values[3] = _mm256_or_si256(_mm256_and_si256(packed[0], low2),
                                    _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(packed[1], low2), 2),
                                                    _mm256_slli_epi16(_mm256_and_si256(packed[2], low2), 4)));
        for (int r = 0; r < R; r++) { // two groups' pairs at most 2 * 2 * 63 * 127 = 32004: int16
            const int8_t *a = rows[r].q + b * kStripSuperblock + 16 * s;
            for (int m = 0; m < 4; m += 2) {
                const __m256i pairs = _mm256_add_epi16(_mm256_maddubs_epi16(values[m], broadcast4(a + 4 * m)),
                                                       _mm256_maddubs_epi16(values[m + 1], broadcast4(a + 4 * m + 4)));
                scaled[r] = _mm256_add_epi32(scaled[r], _mm256_madd_epi16(pairs, scale));
            }
        }
    }
    add_q6_half<R, 1>(t, rows, b, h, scaled, acc);
}

// The int8 values by the sign trick (GGML's): maddubs multiplies their magnitudes, unsigned, by
// the inputs with the values' signs (|input| <= 127: the sign never overflows; a pair's sum at
// most 2 * 128 * 127, within int16), madd adds a row's four products into its lane. A block's
// sum meets its scale in float, once per block and row.
template <int R>
LOFI_AVX2 void superblock_avx2(const StripTileQ8 &t, const QuantizedRow *rows, int64_t b, int h, __m256 *acc, TilesAhead &ahead) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm256_setzero_ps();
    }
    for (int j = 0; j < 8; j++) { // 32 inputs, one scale
        ahead.ask();
        __m256i dot[R];
        for (int r = 0; r < R; r++) {
            dot[r] = _mm256_setzero_si256();
        }
        for (int g = 8 * j; g < 8 * j + 8; g++) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.qs[g] + 32 * h));
            const __m256i magnitude = _mm256_sign_epi8(w, w);
            for (int r = 0; r < R; r++) {
                const __m256i signed_inputs = _mm256_sign_epi8(broadcast4(rows[r].q + b * kStripSuperblock + 4 * g), w);
                dot[r] = _mm256_add_epi32(dot[r], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed_inputs), ones));
            }
        }
        const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.d[j] + 8 * h)));
        for (int r = 0; r < R; r++) {
            scaled[r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot[r]), d, scaled[r]);
        }
    }
    for (int r = 0; r < R; r++) {
        acc[r] = _mm256_fmadd_ps(scaled[r], _mm256_set1_ps(rows[r].d[b]), acc[r]);
    }
}

// ---- AVX-VNNI: the AVX2 kernels' halves of a tile, four products summed per lane as the
// AVX-512 kernels sum them, by VEX's 256-bit vpdpbusd (no embedded broadcast: the inputs'
// four bytes are broadcast apart) ----

template <int R>
LOFI_AVX_VNNI void superblock_avx_vnni(const StripTileQ4 &t, const QuantizedRow *rows, int64_t b, int h, __m256 *acc,
                                       TilesAhead &ahead) {
    const __m256i nibble = _mm256_set1_epi8(0x0F);
    __m256i scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm256_setzero_si256();
    }
    for (int j = 0; j < 8; j++) {
        ahead.ask();
        __m256i dot[R], dot_high[R]; // two chains of dpbusd, as on AVX-512
        for (int r = 0; r < R; r++) {
            dot[r] = dot_high[r] = _mm256_setzero_si256();
        }
        for (int g = 0; g < 4; g++) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.qs[j][g] + 32 * h));
            const __m256i low = _mm256_and_si256(w, nibble), high = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble);
            for (int r = 0; r < R; r++) {
                const int8_t *a = group_inputs(rows[r], b, j, g);
                dot[r] = _mm256_dpbusd_avx_epi32(dot[r], low, broadcast4(a));
                dot_high[r] = _mm256_dpbusd_avx_epi32(dot_high[r], high, broadcast4(a + 4));
            }
        }
        const __m256i scale = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(t.scales[j] + 8 * h)));
        for (int r = 0; r < R; r++) {
            scaled[r] = _mm256_add_epi32(scaled[r], _mm256_mullo_epi32(_mm256_add_epi32(dot[r], dot_high[r]), scale));
        }
    }
    add_q4_half<R>(t, rows, b, h, scaled, acc);
}

// Four times the values, as on AVX-512 (the layout's bits 2-7 as they are); their offset of 32
// (times four) taken off at the end, as on AVX2.
template <int R>
LOFI_AVX_VNNI void superblock_avx_vnni(const StripTileQ6 &t, const QuantizedRow *rows, int64_t b, int h, __m256 *acc,
                                       TilesAhead &ahead) {
    const __m256i top6 = _mm256_set1_epi8(static_cast<char>(0xFC));
    __m256i scaled[R];
    for (int r = 0; r < R; r++) {
        scaled[r] = _mm256_setzero_si256();
    }
    for (int s = 0; s < 16; s++) { // 16 inputs, one scale
        ahead.ask();
        __m256i packed[3], quads[4];
        for (int m = 0; m < 3; m++) {
            packed[m] = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.packed[s][m] + 32 * h));
            quads[m] = _mm256_and_si256(packed[m], top6);
        }
        // Each run's bits 0-1 shifted to the fourth group's place (bits 2-3, 4-5, 6-7).
        quads[3] = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(packed[0], 2), _mm256_set1_epi8(0x0C)),
                                   _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(packed[1], 4), _mm256_set1_epi8(0x30)),
                                                   _mm256_and_si256(_mm256_slli_epi16(packed[2], 6), _mm256_set1_epi8(static_cast<char>(0xC0)))));
        const __m256i scale = _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(t.scales[s] + 8 * h)));
        for (int r = 0; r < R; r++) {
            const int8_t *a = rows[r].q + b * kStripSuperblock + 16 * s;
            __m256i dot = _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), quads[0], broadcast4(a));
            for (int m = 1; m < 4; m++) {
                dot = _mm256_dpbusd_avx_epi32(dot, quads[m], broadcast4(a + 4 * m));
            }
            scaled[r] = _mm256_add_epi32(scaled[r], _mm256_mullo_epi32(dot, scale));
        }
    }
    add_q6_half<R, 4>(t, rows, b, h, scaled, acc);
}

// A half of a tile (rows 8h..8h+7) times R rows' superblock b, added to acc: the AVX2 levels'.
template <typename Tile, int R>
using HalfSuperblock = void (*)(const Tile &, const QuantizedRow *, int64_t, int, __m256 *, TilesAhead &);

// The AVX2 levels' walk over strips and superblocks, a tile's two halves in turn: inlined into
// each level's entry below, which compiles `superblock` with that level's instructions.
template <typename Tile, int R, HalfSuperblock<Tile, R> superblock>
LOFI_AVX2 __attribute__((always_inline)) inline void strips_in_halves(const Tile *tiles, int64_t superblocks, int64_t begin,
                                                                      int64_t end, const QuantizedRow *rows, float *const *out) {
    for (int64_t s = begin; s < end; s++) {
        __m256 acc[2][R];
        for (int h = 0; h < 2; h++) {
            for (int r = 0; r < R; r++) {
                acc[h][r] = _mm256_setzero_ps();
            }
        }
        for (int64_t b = 0; b < superblocks; b++) {
            const Tile &t = tiles[s * superblocks + b];
            TilesAhead ahead = TilesAhead::after(&t, sizeof(Tile), kTilesAheadToL2);
            ahead.pace(2 * kTileSteps<Tile>);
            superblock(t, rows, b, 0, acc[0], ahead);
            superblock(t, rows, b, 1, acc[1], ahead);
        }
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(out[r] + s * kStripRows, acc[0][r]);
            _mm256_storeu_ps(out[r] + s * kStripRows + 8, acc[1][r]);
        }
    }
}

template <typename Tile, int R>
LOFI_AVX2 void strips_avx2(const Tile *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                           float *const *out) {
    strips_in_halves<Tile, R, superblock_avx2<R>>(tiles, superblocks, begin, end, rows, out);
}

template <typename Tile, int R>
LOFI_AVX_VNNI void strips_avx_vnni(const Tile *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                                   float *const *out) {
    strips_in_halves<Tile, R, superblock_avx_vnni<R>>(tiles, superblocks, begin, end, rows, out);
}

} // namespace

StripKernel strip_kernel_avx2(StripFormat format) {
    return by_format(format, [](auto tile) -> StripKernel {
        using Tile = typename decltype(tile)::type;
        return one_or_two_rows<Tile, strips_avx2<Tile, 1>, strips_avx2<Tile, 2>>;
    });
}

StripKernel strip_kernel_avx_vnni(StripFormat format) {
    return by_format(format, [](auto tile) -> StripKernel {
        using Tile = typename decltype(tile)::type;
        if constexpr (std::is_same_v<Tile, StripTileQ8> || kFifthBits<Tile>) { // no host with AVX-VNNI to test one on: AVX2's
            return one_or_two_rows<Tile, strips_avx2<Tile, 1>, strips_avx2<Tile, 2>>;
        } else {
            return one_or_two_rows<Tile, strips_avx_vnni<Tile, 1>, strips_avx_vnni<Tile, 2>>;
        }
    });
}

} // namespace lofi
#endif
