// The attention's AVX-512 kernels (kv_tiles.h): 16 lanes, and two accumulator sets so that 8
// FMA chains keep both units busy; VNNI's integer products for int8 keys and int8/int4 values.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kv_tiles.h"

// GCC 12's AVX-512 headers start some intrinsics (_mm512_cvtepi32_ps, _mm512_max_ps, ...) from
// an undefined vector (`__Y = __Y`), which -Wuninitialized reports where they are inlined here:
// the headers' idiom, not a read of ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#ifdef LOFI_X86
namespace lofi::kv {

namespace {

LOFI_AVX512_BEGIN

// 16 F32 or F16 elements as floats.
LOFI_AVX512 inline __m512 load16(KvElement element, const char *base, int64_t index) {
    if (element == KvElement::f16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    }
    return _mm512_loadu_ps(reinterpret_cast<const float *>(base) + index);
}

// tile_scores_int8_avx2 with VNNI: the keys offset by 128 into unsigned bytes (dpbusd's first
// operand), 128 times each query part's sum taken off after.
LOFI_AVX512 void tile_scores_int8_avx512_vnni(int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores,
                                              TilesAhead &ahead) {
    ahead.pace(dh / 4);
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i high_taken = _mm512_set1_epi32(128 * query.parts.high_sum), low_taken = _mm512_set1_epi32(128 * query.parts.low_sum);
    __m512i high[4], low[4]; // in registers: the loops over them unrolled (see weigh_dimensions_avx512_vnni)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        high[j] = low[j] = _mm512_setzero_si512();
    }
    for (int64_t d = 0; d < dh; d += 4) {
        ahead.ask();
        const __m512i q_high = broadcast4_512(query.high + d), q_low = broadcast4_512(query.low + d);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i k = _mm512_xor_si512(_mm512_loadu_si512(tile + key_index(KvElement::int8, kKvTile, d, 16 * j)), offset);
            high[j] = _mm512_dpbusd_epi32(high[j], k, q_high);
            low[j] = _mm512_dpbusd_epi32(low[j], k, q_low);
        }
    }
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(64) float tile_scores[kKvTile];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low[j], low_taken)), _mm512_set1_ps(1.0f / 256.0f),
                                           _mm512_cvtepi32_ps(_mm512_sub_epi32(high[j], high_taken)));
        const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(scales + 16 * j), _mm512_set1_ps(query.parts.scale));
        _mm512_store_ps(tile_scores + 16 * j, _mm512_mul_ps(dot, scale));
    }
    std::copy_n(tile_scores, m, scores);
}

// float_tile_scores_avx2 on registers of 16 scores, one a quarter, even and odd dimensions apart.
template <int Quarters>
LOFI_AVX512 void float_tile_scores_avx512(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t m,
                                          float *scores, TilesAhead &ahead) {
    ahead.pace(dh);
    __m512 acc[2][Quarters];
    for (auto &set : acc) {
        for (__m512 &a : set) {
            a = _mm512_setzero_ps();
        }
    }
    for (int64_t d = 0; d < dh; d++) {
        ahead.ask();
        const __m512 qd = _mm512_set1_ps(query.q[d]);
        for (int j = 0; j < Quarters; j++) {
            acc[d % 2][j] = _mm512_fmadd_ps(qd, load16(element, tile, d * 16 * Quarters + 16 * j), acc[d % 2][j]);
        }
    }
    alignas(64) float tile_scores[kKvTile];
    for (int j = 0; j < Quarters; j++) {
        _mm512_store_ps(tile_scores + 16 * j, _mm512_add_ps(acc[0][j], acc[1][j]));
    }
    std::copy_n(tile_scores, m, scores);
}

LOFI_AVX512 void tile_scores_avx512(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m,
                                    float *scores, TilesAhead &ahead) {
    static_assert(kKvTile == 64, "up to 4 registers of 16 scores");
    if (element == KvElement::int8) {
        tile_scores_int8_avx512_vnni(dh, query, tile, m, scores, ahead);
        return;
    }
    with_count(columns / 16,
               [&](auto quarters) { float_tile_scores_avx512<decltype(quarters)::value>(element, dh, query, tile, m, scores, ahead); });
}

// weighted_rows_avx2 16 dimensions to a register, positions in pairs.
LOFI_AVX512 void weighted_rows_avx512(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                                      TilesAhead &ahead) {
    const size_t row_bytes = elements_bytes(element, dh);
    ahead.pace((dh + 63) / 64 * n);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 16);
        __m512 acc[2][4];
        for (int j = 0; j < lanes; j++) {
            acc[0][j] = _mm512_loadu_ps(out + d0 + 16 * j);
            acc[1][j] = _mm512_setzero_ps();
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            ahead.ask();
            const __m512 w = _mm512_set1_ps(weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[i % 2][j] = _mm512_fmadd_ps(w, load16(element, row, d0 + 16 * j), acc[i % 2][j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm512_storeu_ps(out + d0 + 16 * j, _mm512_add_ps(acc[0][j], acc[1][j]));
        }
    }
}

// weigh_tile_avx2 on 16-lane registers (masked loads: nothing past the m positions filled is
// read).
LOFI_AVX512 bool weigh_tile_avx512(const float *weights, const float *scales, int64_t m, bool four_bit, TileWeights &out) {
    __m512 scaled[4];
    __m512i offsets[4]; // int4's nibble offsets: 8, or 7 where a scale's sign bit is set
    __m512 top = _mm512_setzero_ps();
    for (int j = 0; j < 4; j++) {
        const auto filled = static_cast<__mmask16>((1u << std::clamp<int64_t>(m - 16 * j, 0, 16)) - 1);
        const __m512 scale = _mm512_maskz_loadu_ps(filled, scales + 16 * j);
        scaled[j] = _mm512_mul_ps(_mm512_maskz_loadu_ps(filled, weights + 16 * j), _mm512_abs_ps(scale));
        offsets[j] = _mm512_sub_epi32(_mm512_set1_epi32(8), _mm512_srli_epi32(_mm512_castps_si512(scale), 31));
        top = _mm512_max_ps(top, scaled[j]);
    }
    const float largest = _mm512_reduce_max_ps(top);
    if (largest == 0.0f) {
        return false;
    }
    out.parts = {largest / weights_top(four_bit), 0, 0};
    const __m512 inverse = _mm512_set1_ps(1.0f / out.parts.scale);
    __m512i high_sum = _mm512_setzero_si512(), low_sum = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        const __m512 units = _mm512_mul_ps(scaled[j], inverse);
        const __m512i whole = _mm512_cvtps_epi32(units);
        high_sum = _mm512_add_epi32(high_sum, four_bit ? _mm512_mullo_epi32(whole, offsets[j]) : whole);
        if (four_bit) {
            _mm_storeu_si128(reinterpret_cast<__m128i *>(out.bytes + 16 * j), _mm512_cvtepi32_epi8(whole)); // within [0, 255]
            continue;
        }
        __m512i rest = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(units, _mm512_cvtepi32_ps(whole)), _mm512_set1_ps(256.0f)));
        rest = _mm512_max_epi32(_mm512_min_epi32(rest, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out.high + 16 * j), _mm512_cvtepi32_epi8(whole));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out.low + 16 * j), _mm512_cvtepi32_epi8(rest));
        low_sum = _mm512_add_epi32(low_sum, rest);
    }
    out.parts.high_sum = _mm512_reduce_add_epi32(high_sum);
    out.parts.low_sum = _mm512_reduce_add_epi32(low_sum);
    return true;
}

// out[d0, d0 + 16 * Groups) += one value tile's dimensions there, weighted (weighted_tile_avx512_vnni).
// Groups is a constant so that the accumulators stay in registers: with a run-time count GCC kept
// them on the stack, a load and a store around every dpbusd (the attention's arithmetic ran ~2x
// slower, and it is as long as its memory reads).
template <int Groups>
LOFI_AVX512 void weigh_dimensions_avx512_vnni(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile,
                                               int64_t m, float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    const __m512i nibble = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const int32_t offset = four_bit ? 1 : 128; // int4: high_sum holds the nibbles' offsets
    __m512i high[Groups], low[Groups];
#pragma GCC unroll 4
    for (int g = 0; g < Groups; g++) {
        high[g] = low[g] = _mm512_setzero_si512();
    }
    for (int64_t p = 0; p < m; p += four_bit ? 8 : 4) {
        ahead.ask();
        const char *at = tile + value_byte(element, dh, d0, p);
        if (four_bit) { // the weights' unsigned bytes times the nibbles; no low part: low stays 0
            const __m512i w0 = broadcast4_512(w.bytes + p), w1 = broadcast4_512(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int g = 0; g < Groups; g++) {
                const __m512i packed = _mm512_loadu_si512(at + 64 * g);
                const __m512i first = _mm512_and_si512(packed, nibble), second = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
                high[g] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(high[g], w0, first), w1, second);
            }
        } else {
            const __m512i h0 = broadcast4_512(w.high + p), l0 = broadcast4_512(w.low + p);
#pragma GCC unroll 4
            for (int g = 0; g < Groups; g++) {
                const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(at + 64 * g), flip);
                high[g] = _mm512_dpbusd_epi32(high[g], v, h0);
                low[g] = _mm512_dpbusd_epi32(low[g], v, l0);
            }
        }
    }
    const __m512i high_taken = _mm512_set1_epi32(offset * w.parts.high_sum), low_taken = _mm512_set1_epi32(offset * w.parts.low_sum);
#pragma GCC unroll 4
    for (int g = 0; g < Groups; g++) {
        const __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low[g], low_taken)), _mm512_set1_ps(1.0f / 256.0f),
                                           _mm512_cvtepi32_ps(_mm512_sub_epi32(high[g], high_taken)));
        float *to = out + d0 + 16 * g;
        _mm512_storeu_ps(to, _mm512_fmadd_ps(dot, _mm512_set1_ps(w.parts.scale), _mm512_loadu_ps(to)));
    }
}

// weighted_tile_avx2 with VNNI: 16 dimensions of 4 positions per 64-byte load into dpbusd, int8
// values offset by 128 into unsigned bytes beside the weights' int8 parts, int4 nibbles as they
// are beside the weights' unsigned bytes (the offsets taken off after with the weights' sums).
LOFI_AVX512 void weighted_tile_avx512_vnni(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                           TilesAhead &ahead) {
    TileWeights w;
    if (!weigh_tile_avx512(weights, value_scales(element, tile, dh), m, element == KvElement::int4, w)) {
        ahead.ask_all();
        return;
    }
    ahead.pace(value_steps(element, dh, 64, m));
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        with_count(std::min<int64_t>(64, dh - d0) / 16,
                   [&](auto groups) { weigh_dimensions_avx512_vnni<decltype(groups)::value>(element, dh, d0, w, tile, m, out, ahead); });
    }
}
LOFI_AVX512_END

} // namespace

Kernels avx512_vnni_kernels() {
    Kernels kernels = avx2_kernels();
    kernels.scores = tile_scores_avx512;
    kernels.weighted_rows = weighted_rows_avx512;
    kernels.weighted_tile = weighted_tile_avx512_vnni;
    return kernels;
}

} // namespace lofi::kv
#endif
