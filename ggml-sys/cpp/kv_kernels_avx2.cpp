// The attention's AVX2 and AVX-VNNI kernels (kv_tiles.h): 8 lanes to a register.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kv_tiles.h"

#ifdef LOFI_X86
namespace lofi::kv {

namespace {

// exponentials_portable 8 lanes at a time (exp to ~1e-7, cpu_simd.h).
LOFI_AVX2 float exponentials_avx2(float *x, int64_t n, float scale) {
    const __m256 scales = _mm256_set1_ps(scale);
    __m256 lanes = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lanes = _mm256_max_ps(lanes, _mm256_mul_ps(scales, _mm256_loadu_ps(x + i)));
    }
    float top = largest_lane(lanes);
    for (int64_t j = i; j < n; j++) {
        top = std::max(top, scale * x[j]);
    }
    const __m256 tops = _mm256_set1_ps(top);
    __m256 sums = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp_minus(_mm256_fmsub_ps(scales, _mm256_loadu_ps(x + i), tops), _mm256_setzero_ps());
        _mm256_storeu_ps(x + i, e);
        sums = _mm256_add_ps(sums, e);
    }
    alignas(32) float parts[8];
    _mm256_store_ps(parts, sums);
    double sum = 0.0;
    for (float part : parts) {
        sum += part;
    }
    for (int64_t j = i; j < n; j++) {
        x[j] = std::exp(scale * x[j] - top);
        sum += x[j];
    }
    return static_cast<float>(1.0 / sum);
}

// 8 F32 or F16 elements as floats (int8 and int4 elements have integer kernels).
LOFI_AVX2 inline __m256 load8(KvElement element, const char *base, int64_t index) {
    if (element == KvElement::f16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    }
    return _mm256_loadu_ps(reinterpret_cast<const float *>(base) + index);
}

// tile_scores_avx2 for int8 keys: the query's two int8 parts as one int16 (KeyQuery's
// high_low, so the integer dot products are the same), four dimensions of four positions per
// 16-byte load widened to int16 and multiplied by madd (one multiply to a pair of products;
// maddubs on the int8 parts took four and three sign fixes per 32 bytes); a position's two lanes
// are summed once a tile. 32 positions at a time: 8 accumulators.
LOFI_AVX2 void tile_scores_int8_avx2(int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores, TilesAhead &ahead) {
    ahead.pace((m + 31) / 32 * ((dh + 7) / 8));
    const __m256 to_float = _mm256_set1_ps(query.parts.scale / 256.0f);
    const __m256i in_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7); // undoes hadd's lane interleave
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(32) float tile_scores[kKvTile];
    for (int64_t half = 0; half < m; half += 32) { // a last tile's empty half skipped
        __m256i acc[8]; // acc[i]: positions half + 4i .. + 3, two lanes each; in registers (unrolled)
#pragma GCC unroll 8
        for (__m256i &a : acc) {
            a = _mm256_setzero_si256();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            if (d % 8 == 0) { // a step's share of the tiles ahead every 8 dimensions: half the asks' overhead
                ahead.ask();
            }
            int64_t four;
            std::memcpy(&four, query.high_low + d, sizeof four);
            const __m256i qd = _mm256_set1_epi64x(four);
            const char *keys = tile + key_index(KvElement::int8, kKvTile, d, half); // the 32 positions' 128 bytes in a run
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m256i k = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(keys + 16 * i)));
                acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(k, qd));
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 8; i += 2) {
            const __m256i dots = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[i], acc[i + 1]), in_order);
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(scales + half + 4 * i), to_float);
            _mm256_store_ps(tile_scores + half + 4 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(dots), scale));
        }
    }
    std::copy_n(tile_scores, m, scores);
}

// A float key tile's scores, 16 columns (two registers) times Quarters, accumulated along the
// head dimension: no horizontal sums. Quarters is a constant so that they stay in registers.
template <int Quarters>
LOFI_AVX2 void float_tile_scores_avx2(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores,
                                      TilesAhead &ahead) {
    constexpr int kRegisters = 2 * Quarters;
    ahead.pace(dh);
    __m256 acc[kRegisters];
    for (__m256 &a : acc) {
        a = _mm256_setzero_ps();
    }
    for (int64_t d = 0; d < dh; d++) {
        ahead.ask();
        const __m256 qd = _mm256_set1_ps(query.q[d]);
        for (int j = 0; j < kRegisters; j++) {
            acc[j] = _mm256_fmadd_ps(qd, load8(element, tile, d * 8 * kRegisters + 8 * j), acc[j]);
        }
    }
    alignas(32) float tile_scores[kKvTile];
    for (int j = 0; j < kRegisters; j++) {
        _mm256_store_ps(tile_scores + 8 * j, acc[j]);
    }
    std::copy_n(tile_scores, m, scores);
}

LOFI_AVX2 void tile_scores_avx2(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m,
                               float *scores, TilesAhead &ahead) {
    static_assert(kKvTile == 64, "up to 8 registers of 8 scores");
    if (element == KvElement::int8) {
        tile_scores_int8_avx2(dh, query, tile, m, scores, ahead);
        return;
    }
    with_count(columns / 16,
               [&](auto quarters) { float_tile_scores_avx2<decltype(quarters)::value>(element, dh, query, tile, m, scores, ahead); });
}

// out += the weighted F32 or F16 rows: up to 64 output dimensions at a time accumulate in
// registers along the positions.
LOFI_AVX2 void weighted_rows_avx2(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                                  TilesAhead &ahead) {
    const size_t row_bytes = elements_bytes(element, dh);
    ahead.pace((dh + 63) / 64 * n);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 8);
        __m256 acc[8];
        for (int j = 0; j < lanes; j++) {
            acc[j] = _mm256_loadu_ps(out + d0 + 8 * j);
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            ahead.ask();
            const __m256 w = _mm256_set1_ps(weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[j] = _mm256_fmadd_ps(w, load8(element, row, d0 + 8 * j), acc[j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm256_storeu_ps(out + d0 + 8 * j, acc[j]);
        }
    }
}

// acc + the products of 32 unsigned and signed bytes, each four's summed (maddubs' pairs stay
// within int16 for the operands weighted_tile_avx2 gives it).
LOFI_AVX2 inline __m256i add_products(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

// out += scale * ((high - offset * high_sum) + (low - offset * low_sum) / 256), 8 dimensions.
LOFI_AVX2 inline void add_weighted_dot(float *out, __m256i high, __m256i low, const Int8Parts &parts, int32_t offset) {
    const __m256 dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(low, _mm256_set1_epi32(offset * parts.low_sum))),
                                       _mm256_set1_ps(1.0f / 256.0f),
                                       _mm256_cvtepi32_ps(_mm256_sub_epi32(high, _mm256_set1_epi32(offset * parts.high_sum))));
    _mm256_storeu_ps(out, _mm256_fmadd_ps(dot, _mm256_set1_ps(parts.scale), _mm256_loadu_ps(out)));
}

// The tile's weights (TileWeights) 8 lanes at a time, in registers (masked loads: no weight past
// the m positions filled is read; zeroed arrays on the stack cost a `rep stos` each, slow to
// start on AMD's cores: 35 % of this function on Zen 4); an int8 tile's as split_int8's parts (it
// rounds a value at a time). False when they are all zero (the tile adds nothing).
LOFI_AVX2 bool weigh_tile_avx2(const float *weights, const float *scales, int64_t m, bool four_bit, TileWeights &out) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 scaled[kKvTile / 8];
    __m256 top = _mm256_setzero_ps();
    for (int j = 0; j < kKvTile / 8; j++) {
        const __m256i filled = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(m - 8 * j)), lane);
        const __m256 scale = _mm256_and_ps(_mm256_maskload_ps(scales + 8 * j, filled), magnitude);
        scaled[j] = _mm256_mul_ps(_mm256_maskload_ps(weights + 8 * j, filled), scale); // weights >= 0: so is this
        top = _mm256_max_ps(top, scaled[j]);
    }
    const float largest = largest_lane(top);
    if (largest == 0.0f) {
        return false;
    }
    out.parts = {largest / weights_top(four_bit), 0, 0};
    const __m256 inverse = _mm256_set1_ps(1.0f / out.parts.scale);
    const __m256i most = _mm256_set1_epi32(127), least = _mm256_set1_epi32(-127);
    __m256i high_sum = _mm256_setzero_si256(), low_sum = _mm256_setzero_si256();
    for (int64_t i = 0; i < kKvTile; i += 32) {
        __m256i whole[4], rest[4];
        for (int j = 0; j < 4; j++) {
            const __m256 units = _mm256_mul_ps(scaled[i / 8 + j], inverse);
            whole[j] = _mm256_cvtps_epi32(units);
            if (four_bit) { // whole * nibble_offset: 8 * whole, less whole where the scale is negative
                const __m256i negative = _mm256_castps_si256(_mm256_cmp_ps(_mm256_loadu_ps(scales + i + 8 * j), _mm256_setzero_ps(), _CMP_LT_OQ));
                high_sum = _mm256_add_epi32(high_sum, _mm256_sub_epi32(_mm256_slli_epi32(whole[j], 3), _mm256_and_si256(whole[j], negative)));
                continue;
            }
            high_sum = _mm256_add_epi32(high_sum, whole[j]);
            rest[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(units, _mm256_cvtepi32_ps(whole[j])), _mm256_set1_ps(256.0f)));
            rest[j] = _mm256_max_epi32(_mm256_min_epi32(rest[j], most), least);
            low_sum = _mm256_add_epi32(low_sum, rest[j]);
        }
        if (four_bit) {
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.bytes + i), packed_int8<true>(whole));
        } else {
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.high + i), packed_int8(whole));
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.low + i), packed_int8(rest));
        }
    }
    alignas(32) int32_t sums[16];
    _mm256_store_si256(reinterpret_cast<__m256i *>(sums), high_sum);
    _mm256_store_si256(reinterpret_cast<__m256i *>(sums + 8), low_sum);
    for (int j = 0; j < 8; j++) {
        out.parts.high_sum += sums[j];
        out.parts.low_sum += sums[8 + j];
    }
    return true;
}

// A value tile's int8 values at dimensions [d0, d0 + 8 * Lanes) times the weights' parts, into
// high and low: |value| times the weight with the value's sign (a pair's sum within int16).
template <int Lanes>
LOFI_AVX2 inline void add_byte_products(const char *tile, int64_t dh, int64_t d0, const TileWeights &w, int64_t m, __m256i *high,
                                        __m256i *low, TilesAhead &ahead) {
    for (int64_t p = 0; p < m; p += 4) {
        ahead.ask();
        const char *at = tile + value_byte(KvElement::int8, dh, d0, p);
        const __m256i h0 = broadcast4(w.high + p), l0 = broadcast4(w.low + p);
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
            const __m256i magnitude = _mm256_sign_epi8(v, v);
            high[j] = add_products(high[j], magnitude, _mm256_sign_epi8(h0, v));
            low[j] = add_products(low[j], magnitude, _mm256_sign_epi8(l0, v));
        }
    }
}

// The products for int4 values: the weights' unsigned bytes times the nibbles as they are (their
// offsets taken off after, TileWeights), into sums. maddubs' int16 pairs (at most 2 * 255 * 15)
// add up in int16 over 16 positions (30600) before madd widens them: half the multiplies.
template <int Lanes>
LOFI_AVX2 inline void add_nibble_products(const char *tile, int64_t dh, int64_t d0, const TileWeights &w, int64_t m, __m256i *sums,
                                          TilesAhead &ahead) {
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t p0 = 0; p0 < m; p0 += 16) {
        __m256i sums16[Lanes];
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            sums16[j] = _mm256_setzero_si256();
        }
        for (int64_t p = p0; p < std::min(m, p0 + 16); p += 8) {
            ahead.ask();
            const char *at = tile + value_byte(KvElement::int4, dh, d0, p);
            const __m256i w0 = broadcast4(w.bytes + p), w1 = broadcast4(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
                const __m256i first = _mm256_and_si256(packed, nibble), second = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
                sums16[j] = _mm256_add_epi16(sums16[j], _mm256_add_epi16(_mm256_maddubs_epi16(w0, first), _mm256_maddubs_epi16(w1, second)));
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            sums[j] = _mm256_add_epi32(sums[j], _mm256_madd_epi16(sums16[j], ones));
        }
    }
}

// out[d0, d0 + 8 * Lanes) += one value tile's dimensions there, weighted. Lanes is a constant so
// that the accumulators stay in registers (see weigh_dimensions_avx512_vnni).
template <int Lanes>
LOFI_AVX2 void weigh_dimensions_avx2(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile, int64_t m,
                                     float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    __m256i high[Lanes], low[Lanes];
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        high[j] = low[j] = _mm256_setzero_si256();
    }
    if (four_bit) {
        add_nibble_products<Lanes>(tile, dh, d0, w, m, high, ahead); // no low part: low stays 0
    } else {
        add_byte_products<Lanes>(tile, dh, d0, w, m, high, low, ahead);
    }
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        add_weighted_dot(out + d0 + 8 * j, high[j], low[j], w.parts, four_bit ? 1 : 0); // int4: high_sum holds the offsets
    }
}
// out += one value tile weighted on an AVX2 level: the weights in int8 parts, then each run of
// up to 32 dimensions by `weigh` (the level's weigh_dimensions, given the run's count of 8 lanes
// as a constant and its first dimension).
template <typename Weigh>
void weighted_tile_in_runs(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, TilesAhead &ahead,
                           Weigh &&weigh) {
    TileWeights w;
    if (!weigh_tile_avx2(weights, value_scales(element, tile, dh), m, element == KvElement::int4, w)) {
        ahead.ask_all();
        return;
    }
    ahead.pace(value_steps(element, dh, 32, m));
    for (int64_t d0 = 0; d0 < dh; d0 += 32) {
        with_count(std::min<int64_t>(32, dh - d0) / 8, [&](auto lanes) { weigh(lanes, d0, w); });
    }
}

// out += one value tile weighted, in integer dot products with the weights' int8 parts: 8
// dimensions of 4 positions (int8) or 8 (int4) per 32-byte load.
LOFI_AVX2 void weighted_tile_avx2(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                  TilesAhead &ahead) {
    weighted_tile_in_runs(element, dh, weights, tile, m, ahead, [&](auto lanes, int64_t d0, const TileWeights &w) {
        weigh_dimensions_avx2<decltype(lanes)::value>(element, dh, d0, w, tile, m, out, ahead);
    });
}

// ---- AVX-VNNI: the int8 keys' scores and the int8 and int4 values' sums as AVX-512 computes
// them (unsigned operands into dpbusd), 8 lanes to a register ----

// tile_scores_int8_avx512_vnni on 8 positions a register, 32 positions at a time (8 accumulators).
LOFI_AVX_VNNI void tile_scores_avx_vnni(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns,
                                        int64_t m, float *scores, TilesAhead &ahead) {
    if (element != KvElement::int8) {
        tile_scores_avx2(element, dh, query, tile, columns, m, scores, ahead); // float keys: no integer products
        return;
    }
    ahead.pace((m + 31) / 32 * dh / 4);
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
    const __m256i high_taken = _mm256_set1_epi32(128 * query.parts.high_sum), low_taken = _mm256_set1_epi32(128 * query.parts.low_sum);
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(32) float tile_scores[kKvTile];
    for (int64_t half = 0; half < m; half += 32) { // a last tile's empty half skipped
        __m256i high[4], low[4]; // in registers: the loops over them unrolled
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            high[j] = low[j] = _mm256_setzero_si256();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            ahead.ask();
            const __m256i q_high = broadcast4(query.high + d), q_low = broadcast4(query.low + d);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const char *keys = tile + key_index(KvElement::int8, kKvTile, d, half + 8 * j);
                const __m256i k = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(keys)), offset);
                high[j] = _mm256_dpbusd_avx_epi32(high[j], k, q_high);
                low[j] = _mm256_dpbusd_avx_epi32(low[j], k, q_low);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256 dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(low[j], low_taken)), _mm256_set1_ps(1.0f / 256.0f),
                                               _mm256_cvtepi32_ps(_mm256_sub_epi32(high[j], high_taken)));
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(scales + half + 8 * j), _mm256_set1_ps(query.parts.scale));
            _mm256_store_ps(tile_scores + half + 8 * j, _mm256_mul_ps(dot, scale));
        }
    }
    std::copy_n(tile_scores, m, scores);
}

// weigh_dimensions_avx512_vnni on 8 dimensions a register: out[d0, d0 + 8 * Lanes) += one value
// tile's dimensions there, weighted.
template <int Lanes>
LOFI_AVX_VNNI void weigh_dimensions_avx_vnni(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile,
                                             int64_t m, float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    const __m256i nibble = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256i high[Lanes], low[Lanes];
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        high[j] = low[j] = _mm256_setzero_si256();
    }
    for (int64_t p = 0; p < m; p += four_bit ? 8 : 4) {
        ahead.ask();
        const char *at = tile + value_byte(element, dh, d0, p);
        if (four_bit) { // the weights' unsigned bytes times the nibbles; no low part: low stays 0
            const __m256i w0 = broadcast4(w.bytes + p), w1 = broadcast4(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
                const __m256i first = _mm256_and_si256(packed, nibble), second = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
                high[j] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(high[j], w0, first), w1, second);
            }
        } else {
            const __m256i h0 = broadcast4(w.high + p), l0 = broadcast4(w.low + p);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j)), flip);
                high[j] = _mm256_dpbusd_avx_epi32(high[j], v, h0);
                low[j] = _mm256_dpbusd_avx_epi32(low[j], v, l0);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        add_weighted_dot(out + d0 + 8 * j, high[j], low[j], w.parts, four_bit ? 1 : 128); // int4: high_sum holds the offsets
    }
}

// weighted_tile_avx2 with VNNI: 8 dimensions of 4 positions per 32-byte load into dpbusd, int8
// values offset by 128 into unsigned bytes beside the weights' int8 parts, int4 nibbles as they
// are beside the weights' unsigned bytes (the offsets taken off after with the weights' sums).
LOFI_AVX_VNNI void weighted_tile_avx_vnni(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                          TilesAhead &ahead) {
    weighted_tile_in_runs(element, dh, weights, tile, m, ahead, [&](auto lanes, int64_t d0, const TileWeights &w) {
        weigh_dimensions_avx_vnni<decltype(lanes)::value>(element, dh, d0, w, tile, m, out, ahead);
    });
}
} // namespace

Kernels avx2_kernels() { return {tile_scores_avx2, weighted_rows_avx2, weighted_tile_avx2, exponentials_avx2}; }

Kernels avx_vnni_kernels() {
    Kernels kernels = avx2_kernels();
    kernels.scores = tile_scores_avx_vnni;
    kernels.weighted_tile = weighted_tile_avx_vnni;
    return kernels;
}

} // namespace lofi::kv
#endif
