#include "strip_kernels.h"

#include <algorithm>
#include <type_traits>

#include "cpu_simd.h"
#include "tiles_ahead.h"

namespace lofi {

namespace {

// ---- portable: a superblock's 16 rows at a time, the rows in the innermost loops, which a
// compiler vectorises (each row's four bytes of a four-input group are 4 apart: NEON's ld4 takes
// them apart in one load) ----

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

#ifdef LOFI_X86
// Tiles on from the one computed that the kernels ask L2 for (tiles_ahead.h): ~14 kB of Q4_K,
// ~17 kB of Q5_K, ~20 kB of Q6_K, ~26 kB of Q8_0 ahead. Past a thread's last strip these are the next strip's or past the
// weight: a prefetch never faults.
constexpr int kTilesAheadToL2 = 6;

// The steps of the kernels' loop over a tile (or a half of it), at each of which they ask for a
// share of the tiles ahead: Q4_K's and Q5_K's 8 sub-blocks, Q6_K's 16 scales, Q8_0's 8 blocks.
template <typename Tile> constexpr int kTileSteps = std::is_same_v<Tile, StripTileQ6> ? 16 : 8;

// ---- AVX2: each half of a tile (rows 8h..8h+7, 32 bytes of every 64) in turn ----

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

// A 32-bit lane holding `low` in its low int16 and `high` in its high one (both within int16):
// the input sums madd (dpwssd) multiplies a row's pair of int16 lanes by.
inline int32_t int16_pair(int32_t low, int32_t high) {
    return static_cast<int32_t>((static_cast<uint32_t>(low) & 0xFFFFu) | (static_cast<uint32_t>(high) << 16));
}
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

// ---- AVX512-VNNI: a whole tile's 16 rows in one register, four products summed per lane ----
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
#endif

// Rows of R input rows, as a level's kernel takes them.
template <typename Tile, int R> using RowsKernel = void (*)(const Tile *, int64_t, int64_t, int64_t, const QuantizedRow *, float *const *);

// A level's kernel for one input row or two (a guided step's branches).
template <typename Tile, RowsKernel<Tile, 1> one, RowsKernel<Tile, 2> two>
void one_or_two_rows(const void *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows, int n_rows,
                     float *const *out) {
    (n_rows == 2 ? two : one)(static_cast<const Tile *>(tiles), superblocks, begin, end, rows, out);
}

template <typename Tile> StripKernel kernel_of(CpuKernels level) {
#ifdef LOFI_X86
    switch (level) {
    case CpuKernels::avx512_vnni:
        return one_or_two_rows<Tile, strips_avx512_vnni<Tile, 1>, strips_avx512_vnni<Tile, 2>>;
    case CpuKernels::avx_vnni:
        if constexpr (std::is_same_v<Tile, StripTileQ8> || kFifthBits<Tile>) { // no host with AVX-VNNI to test one on: AVX2's
            return one_or_two_rows<Tile, strips_avx2<Tile, 1>, strips_avx2<Tile, 2>>;
        } else {
            return one_or_two_rows<Tile, strips_avx_vnni<Tile, 1>, strips_avx_vnni<Tile, 2>>;
        }
    case CpuKernels::avx2:
        return one_or_two_rows<Tile, strips_avx2<Tile, 1>, strips_avx2<Tile, 2>>;
    case CpuKernels::portable:
    case CpuKernels::neon_dotprod:
        break;
    }
#endif
    (void)level;
    return strips_portable<Tile>;
}

} // namespace

StripKernel strip_kernel(StripFormat format, CpuKernels level) {
#ifdef __aarch64__
    if (level == CpuKernels::neon_dotprod) {
        return strip_kernel_neon_dotprod(format);
    }
#endif
    switch (format) {
    case StripFormat::q4_k:
        return kernel_of<StripTileQ4>(level);
    case StripFormat::q5_k:
        return kernel_of<StripTileQ5>(level);
    case StripFormat::q6_k:
        return kernel_of<StripTileQ6>(level);
    case StripFormat::q8_0:
        break;
    }
    return kernel_of<StripTileQ8>(level);
}

} // namespace lofi
