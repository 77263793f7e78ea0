#include "kv_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_features.h"

#include "cpu_simd.h"

namespace lofi {

namespace {

// Bytes of `n` elements. int4 packs 16 elements in 8 bytes: byte i holds element i in its low
// nibble and element i + 8 in its high one, so a load of 8 bytes unpacks into two runs of 8.
size_t elements_bytes(KvElement element, int64_t n) {
    switch (element) {
    case KvElement::f32:
        return 4 * n;
    case KvElement::f16:
        return 2 * n;
    case KvElement::int8:
        return n;
    case KvElement::int4:
        return (n + 15) / 16 * 8;
    }
    return 0;
}

bool has_scale(KvElement element) { return element == KvElement::int8 || element == KvElement::int4; }

// The scale of a vector: int8 maps its largest magnitude to 127; int4 maps the element of
// largest magnitude to -8 exactly (a signed scale; the other sign reaches 7), as GGML's Q4_0.
float vector_scale(KvElement element, const float *x, int64_t n) {
    float top = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        if (std::fabs(x[i]) > std::fabs(top)) {
            top = x[i];
        }
    }
    switch (element) {
    case KvElement::int8:
        return std::fabs(top) / 127.0f;
    case KvElement::int4:
        return top / -8.0f;
    default:
        return 1.0f;
    }
}

int8_t to_int8(float x, float scale) { return scale == 0.0f ? 0 : static_cast<int8_t>(std::lrintf(x / scale)); }

// The nibble of x: x / scale rounded, offset by 8 into [0, 15].
uint8_t to_nibble(float x, float scale) {
    const long q = scale == 0.0f ? 0 : std::lrintf(x / scale);
    return static_cast<uint8_t>(std::clamp(q + 8, 0L, 15L));
}

// Where int4 element `index` lives: its byte, and 0 or 4 for the low or high nibble.
int64_t nibble_byte(int64_t index) { return index / 16 * 8 + index % 8; }
int nibble_shift(int64_t index) { return index % 16 < 8 ? 0 : 4; }

void put(KvElement element, char *base, int64_t index, float x, float scale) {
    switch (element) {
    case KvElement::f32:
        reinterpret_cast<float *>(base)[index] = x;
        break;
    case KvElement::f16:
        reinterpret_cast<ggml_fp16_t *>(base)[index] = ggml_fp32_to_fp16(x);
        break;
    case KvElement::int8:
        reinterpret_cast<int8_t *>(base)[index] = to_int8(x, scale);
        break;
    case KvElement::int4: {
        auto &byte = reinterpret_cast<uint8_t *>(base)[nibble_byte(index)];
        const int shift = nibble_shift(index);
        byte = static_cast<uint8_t>((byte & ~(0x0F << shift)) | (to_nibble(x, scale) << shift));
        break;
    }
    }
}

float get(KvElement element, const char *base, int64_t index) {
    switch (element) {
    case KvElement::f32:
        return reinterpret_cast<const float *>(base)[index];
    case KvElement::f16:
        return ggml_fp16_to_fp32(reinterpret_cast<const ggml_fp16_t *>(base)[index]);
    case KvElement::int8:
        return reinterpret_cast<const int8_t *>(base)[index];
    case KvElement::int4:
        return static_cast<float>((reinterpret_cast<const uint8_t *>(base)[nibble_byte(index)] >> nibble_shift(index) & 0x0F) - 8);
    }
    return 0.0f;
}

// Where element (d, column) of a key tile lives: [head size][kKeyTile] for floats; for int8,
// [head size / 4][kKeyTile][4], so each position's dimensions come four to a 32-bit lane for the
// integer dot products of the vector kernels.
int64_t key_index(KvElement element, int64_t d, int64_t column) {
    return element == KvElement::int8 ? (d / 4 * kKeyTile + column) * 4 + d % 4 : d * kKeyTile + column;
}

// Elements of a key tile: int8 rounds the head size up to whole groups of 4.
int64_t key_tile_elements(KvElement element, int64_t dh) { return (element == KvElement::int8 ? (dh + 3) / 4 * 4 : dh) * kKeyTile; }

// The query of one head in two int8 parts for the int8 keys' integer dot products:
// q ~ scale * (high + low / 256), high with its largest magnitude at 127, low the rest (one int8
// part alone moved a greedy token of the fixture: its error adds to the keys'). In buffers of
// the calling thread; `sums` are each part's sum.
struct QuantizedQuery {
    const int8_t *high, *low;
    float scale;
    int32_t high_sum, low_sum;
};

QuantizedQuery quantize_query(const float *q, int64_t dh) {
    thread_local std::vector<int8_t> high, low;
    high.resize(dh);
    low.resize(dh);
    QuantizedQuery out{high.data(), low.data(), vector_scale(KvElement::int8, q, dh), 0, 0};
    for (int64_t d = 0; d < dh; d++) {
        high[d] = to_int8(q[d], out.scale);
        const long rest = out.scale == 0.0f ? 0 : std::lrintf((q[d] - high[d] * out.scale) * 256.0f / out.scale);
        low[d] = static_cast<int8_t>(std::clamp(rest, -127L, 127L));
        out.high_sum += high[d];
        out.low_sum += low[d];
    }
    return out;
}

// How far ahead the value kernels ask for rows (cpu_simd.h's prefetch).
constexpr int64_t kRowsAhead = 16;

// A tile's or row's scales follow its `elements` elements (none for F32 and F16).
const float *scales_of(KvElement element, const char *base, int64_t elements) {
    return has_scale(element) ? reinterpret_cast<const float *>(base + elements_bytes(element, elements)) : nullptr;
}

// A key tile's scales (one per position), nullptr for F32 and F16.
const float *key_scales(KvElement element, const char *tile, int64_t dh) { return scales_of(element, tile, key_tile_elements(element, dh)); }

void key_scores_portable(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    const size_t tile_bytes = key_tile_bytes(element, dh);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        const float *scales = key_scales(element, tile, dh);
        const int64_t m = std::min(kKeyTile, n - t * kKeyTile);
        for (int64_t i = 0; i < m; i++) {
            float sum = 0.0f;
            for (int64_t d = 0; d < dh; d++) {
                sum += q[d] * get(element, tile, key_index(element, d, i));
            }
            scores[t * kKeyTile + i] = scales != nullptr ? sum * scales[i] : sum;
        }
    }
}

void weighted_values_portable(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    const size_t row_bytes = value_row_bytes(element, dh);
    for (int64_t i = 0; i < n; i++) {
        const char *row = rows + i * row_bytes;
        const float *scale = scales_of(element, row, dh);
        const float w = scale != nullptr ? weights[i] * *scale : weights[i];
        for (int64_t d = 0; d < dh; d++) {
            out[d] += w * get(element, row, d);
        }
    }
}

#ifdef LOFI_X86

LOFI_AVX2 inline __m256 load8(KvElement element, const char *base, int64_t index) {
    switch (element) {
    case KvElement::f32:
        return _mm256_loadu_ps(reinterpret_cast<const float *>(base) + index);
    case KvElement::f16:
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    case KvElement::int8:
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(base + index))));
    case KvElement::int4:
        break; // weighted_values_int4_avx2
    }
    return _mm256_setzero_ps();
}

// key_scores_avx2 for int8 keys: the query in its two int8 parts, four dimensions of 8 positions
// per 32-byte load, multiplied by maddubs (|key| times the query with the key's sign, so its
// unsigned operand stays within 127 and a pair's sum within int16) and summed to int32 by madd.
LOFI_AVX2 void key_scores_int8_avx2(int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    const size_t tile_bytes = key_tile_bytes(KvElement::int8, dh);
    const QuantizedQuery query = quantize_query(q, dh);
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        prefetch(tile + tile_bytes, tile_bytes);
        __m256i high[8], low[8];
        for (int j = 0; j < 8; j++) {
            high[j] = low[j] = _mm256_setzero_si256();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            const __m256i q_high = broadcast4(query.high + d), q_low = broadcast4(query.low + d);
            for (int j = 0; j < 8; j++) {
                const __m256i k = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(tile + key_index(KvElement::int8, d, 8 * j)));
                const __m256i magnitude = _mm256_sign_epi8(k, k);
                high[j] = _mm256_add_epi32(high[j], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(q_high, k)), ones));
                low[j] = _mm256_add_epi32(low[j], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(q_low, k)), ones));
            }
        }
        const float *scales = key_scales(KvElement::int8, tile, dh);
        alignas(32) float tile_scores[kKeyTile];
        for (int j = 0; j < 8; j++) {
            const __m256 dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(low[j]), _mm256_set1_ps(1.0f / 256.0f), _mm256_cvtepi32_ps(high[j]));
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(scales + 8 * j), _mm256_set1_ps(query.scale));
            _mm256_store_ps(tile_scores + 8 * j, _mm256_mul_ps(dot, scale));
        }
        std::copy_n(tile_scores, std::min(kKeyTile, n - t * kKeyTile), scores + t * kKeyTile);
    }
}

// 64 positions' scores accumulate in 8 registers along the head dimension: no horizontal sums.
LOFI_AVX2 void key_scores_avx2(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    static_assert(kKeyTile == 64, "8 registers of 8 scores");
    if (element == KvElement::int8) {
        key_scores_int8_avx2(dh, q, tiles, n, scores);
        return;
    }
    const size_t tile_bytes = key_tile_bytes(element, dh);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        __m256 acc[8];
        for (__m256 &a : acc) {
            a = _mm256_setzero_ps();
        }
        for (int64_t d = 0; d < dh; d++) {
            const __m256 qd = _mm256_set1_ps(q[d]);
            for (int j = 0; j < 8; j++) {
                acc[j] = _mm256_fmadd_ps(qd, load8(element, tile, d * kKeyTile + 8 * j), acc[j]);
            }
        }
        if (const float *scales = key_scales(element, tile, dh)) {
            for (int j = 0; j < 8; j++) {
                acc[j] = _mm256_mul_ps(acc[j], _mm256_loadu_ps(scales + 8 * j));
            }
        }
        alignas(32) float tile_scores[kKeyTile];
        for (int j = 0; j < 8; j++) {
            _mm256_store_ps(tile_scores + 8 * j, acc[j]);
        }
        std::copy_n(tile_scores, std::min(kKeyTile, n - t * kKeyTile), scores + t * kKeyTile);
    }
}

// weighted_values_avx2 for 4-bit rows: the nibbles (offset by 8) accumulate as they are, the
// offset is taken off once at the end.
LOFI_AVX2 void weighted_values_int4_avx2(int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    const size_t row_bytes = value_row_bytes(KvElement::int4, dh);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int groups = static_cast<int>(std::min<int64_t>(64, dh - d0) / 16);
        __m256 acc[8];
        for (int j = 0; j < 2 * groups; j++) {
            acc[j] = _mm256_loadu_ps(out + d0 + 8 * j);
        }
        float offset = 0.0f; // sum of the scaled weights: 8 of each is taken off at the end
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            prefetch(row + kRowsAhead * row_bytes, row_bytes);
            const float scaled = weights[i] * *scales_of(KvElement::int4, row, dh);
            offset += scaled;
            const __m256 w = _mm256_set1_ps(scaled);
            for (int g = 0; g < groups; g++) {
                const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + nibble_byte(d0 + 16 * g)));
                const __m128i low = _mm_and_si128(packed, nibble), high = _mm_and_si128(_mm_srli_epi16(packed, 4), nibble);
                acc[2 * g] = _mm256_fmadd_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(low)), acc[2 * g]);
                acc[2 * g + 1] = _mm256_fmadd_ps(w, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(high)), acc[2 * g + 1]);
            }
        }
        const __m256 taken = _mm256_set1_ps(8.0f * offset);
        for (int j = 0; j < 2 * groups; j++) {
            _mm256_storeu_ps(out + d0 + 8 * j, _mm256_sub_ps(acc[j], taken));
        }
    }
}

// out += the weighted rows: up to 64 output dimensions at a time accumulate in registers along
// the positions.
LOFI_AVX2 void weighted_values_avx2(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    if (element == KvElement::int4) {
        weighted_values_int4_avx2(dh, weights, rows, n, out);
        return;
    }
    const size_t row_bytes = value_row_bytes(element, dh);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 8);
        __m256 acc[8];
        for (int j = 0; j < lanes; j++) {
            acc[j] = _mm256_loadu_ps(out + d0 + 8 * j);
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            const float *scale = scales_of(element, row, dh);
            const __m256 w = _mm256_set1_ps(scale != nullptr ? weights[i] * *scale : weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[j] = _mm256_fmadd_ps(w, load8(element, row, d0 + 8 * j), acc[j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm256_storeu_ps(out + d0 + 8 * j, acc[j]);
        }
    }
}

// ---- AVX-512: 16 lanes, and two accumulator sets so that 8 FMA chains keep both units busy ----
LOFI_AVX512_BEGIN

LOFI_AVX512 inline __m512 load16(KvElement element, const char *base, int64_t index) {
    switch (element) {
    case KvElement::f32:
        return _mm512_loadu_ps(reinterpret_cast<const float *>(base) + index);
    case KvElement::f16:
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    case KvElement::int8:
        return _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(base + index))));
    case KvElement::int4:
        break; // weighted_values_int4_avx512
    }
    return _mm512_setzero_ps();
}

// key_scores_int8_avx2 with VNNI: the keys offset by 128 into unsigned bytes (dpbusd's first
// operand), 128 times each query part's sum taken off after.
LOFI_AVX512 void key_scores_int8_avx512_vnni(int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    const size_t tile_bytes = key_tile_bytes(KvElement::int8, dh);
    const QuantizedQuery query = quantize_query(q, dh);
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i high_taken = _mm512_set1_epi32(128 * query.high_sum), low_taken = _mm512_set1_epi32(128 * query.low_sum);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        prefetch(tile + tile_bytes, tile_bytes);
        __m512i high[4], low[4];
        for (int j = 0; j < 4; j++) {
            high[j] = low[j] = _mm512_setzero_si512();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            const __m512i q_high = broadcast4_512(query.high + d), q_low = broadcast4_512(query.low + d);
            for (int j = 0; j < 4; j++) {
                const __m512i k = _mm512_xor_si512(_mm512_loadu_si512(tile + key_index(KvElement::int8, d, 16 * j)), offset);
                high[j] = _mm512_dpbusd_epi32(high[j], k, q_high);
                low[j] = _mm512_dpbusd_epi32(low[j], k, q_low);
            }
        }
        const float *scales = key_scales(KvElement::int8, tile, dh);
        alignas(64) float tile_scores[kKeyTile];
        for (int j = 0; j < 4; j++) {
            const __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low[j], low_taken)), _mm512_set1_ps(1.0f / 256.0f),
                                               _mm512_cvtepi32_ps(_mm512_sub_epi32(high[j], high_taken)));
            const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(scales + 16 * j), _mm512_set1_ps(query.scale));
            _mm512_store_ps(tile_scores + 16 * j, _mm512_mul_ps(dot, scale));
        }
        std::copy_n(tile_scores, std::min(kKeyTile, n - t * kKeyTile), scores + t * kKeyTile);
    }
}

// key_scores_avx2 in 4 registers of 16 scores, even and odd dimensions apart.
LOFI_AVX512 void key_scores_avx512(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    static_assert(kKeyTile == 64, "4 registers of 16 scores");
    if (element == KvElement::int8) {
        key_scores_int8_avx512_vnni(dh, q, tiles, n, scores);
        return;
    }
    const size_t tile_bytes = key_tile_bytes(element, dh);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        __m512 acc[2][4];
        for (auto &set : acc) {
            for (__m512 &a : set) {
                a = _mm512_setzero_ps();
            }
        }
        for (int64_t d = 0; d < dh; d++) {
            const __m512 qd = _mm512_set1_ps(q[d]);
            for (int j = 0; j < 4; j++) {
                acc[d % 2][j] = _mm512_fmadd_ps(qd, load16(element, tile, d * kKeyTile + 16 * j), acc[d % 2][j]);
            }
        }
        const float *scales = key_scales(element, tile, dh);
        alignas(64) float tile_scores[kKeyTile];
        for (int j = 0; j < 4; j++) {
            const __m512 sum = _mm512_add_ps(acc[0][j], acc[1][j]);
            _mm512_store_ps(tile_scores + 16 * j, scales != nullptr ? _mm512_mul_ps(sum, _mm512_loadu_ps(scales + 16 * j)) : sum);
        }
        std::copy_n(tile_scores, std::min(kKeyTile, n - t * kKeyTile), scores + t * kKeyTile);
    }
}

// weighted_values_int4_avx2 a row of 64 nibbles (32 bytes) at a time, positions in pairs.
LOFI_AVX512 void weighted_values_int4_avx512(int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    const size_t row_bytes = value_row_bytes(KvElement::int4, dh);
    const __m128i nibble = _mm_set1_epi8(0x0F);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int groups = static_cast<int>(std::min<int64_t>(64, dh - d0) / 16);
        __m512 acc[2][4];
        for (int g = 0; g < groups; g++) {
            acc[0][g] = _mm512_loadu_ps(out + d0 + 16 * g);
            acc[1][g] = _mm512_setzero_ps();
        }
        float offset = 0.0f; // sum of the scaled weights: 8 of each is taken off at the end
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            prefetch(row + kRowsAhead * row_bytes, row_bytes);
            const float scaled = weights[i] * *scales_of(KvElement::int4, row, dh);
            offset += scaled;
            const __m512 w = _mm512_set1_ps(scaled);
            for (int g = 0; g < groups; g++) { // group g: 8 bytes, elements 16g..16g+7 low, +8.. high
                const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i *>(row + nibble_byte(d0 + 16 * g)));
                const __m128i both = _mm_unpacklo_epi64(_mm_and_si128(packed, nibble), _mm_and_si128(_mm_srli_epi16(packed, 4), nibble));
                acc[i % 2][g] = _mm512_fmadd_ps(w, _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(both)), acc[i % 2][g]);
            }
        }
        const __m512 taken = _mm512_set1_ps(8.0f * offset);
        for (int g = 0; g < groups; g++) {
            _mm512_storeu_ps(out + d0 + 16 * g, _mm512_sub_ps(_mm512_add_ps(acc[0][g], acc[1][g]), taken));
        }
    }
}

// weighted_values_avx2 16 dimensions to a register, positions in pairs.
LOFI_AVX512 void weighted_values_avx512(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    if (element == KvElement::int4) {
        weighted_values_int4_avx512(dh, weights, rows, n, out);
        return;
    }
    const size_t row_bytes = value_row_bytes(element, dh);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 16);
        __m512 acc[2][4];
        for (int j = 0; j < lanes; j++) {
            acc[0][j] = _mm512_loadu_ps(out + d0 + 16 * j);
            acc[1][j] = _mm512_setzero_ps();
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            const float *scale = scales_of(element, row, dh);
            const __m512 w = _mm512_set1_ps(scale != nullptr ? weights[i] * *scale : weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[i % 2][j] = _mm512_fmadd_ps(w, load16(element, row, d0 + 16 * j), acc[i % 2][j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm512_storeu_ps(out + d0 + 16 * j, _mm512_add_ps(acc[0][j], acc[1][j]));
        }
    }
}
LOFI_AVX512_END
#endif

struct Kernels {
    void (*scores)(KvElement, int64_t, const float *, const char *, int64_t, float *);
    void (*weighted)(KvElement, int64_t, const float *, const char *, int64_t, float *);
};

const Kernels &kernels() {
    static const Kernels chosen = [] {
#ifdef LOFI_X86
        switch (cpu_kernels()) {
        case CpuKernels::avx512_vnni:
            return Kernels{key_scores_avx512, weighted_values_avx512};
        case CpuKernels::avx2:
            return Kernels{key_scores_avx2, weighted_values_avx2};
        case CpuKernels::portable:
            break;
        }
#endif
        return Kernels{key_scores_portable, weighted_values_portable};
    }();
    return chosen;
}

// The vector kernels take whole runs of 8 elements (of 16 for int4, a group of nibbles, and for
// AVX-512, a register).
bool vectorizable(KvElement element, int64_t dh) {
    return dh % (element == KvElement::int4 || cpu_kernels() == CpuKernels::avx512_vnni ? 16 : 8) == 0;
}

// out += the weighted rows.
void add_weighted_rows(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    (vectorizable(element, dh) ? kernels().weighted : weighted_values_portable)(element, dh, weights, rows, n, out);
}

void store_row(KvElement element, int64_t dh, const float *value, char *row) {
    const float scale = vector_scale(element, value, dh);
    for (int64_t d = 0; d < dh; d++) {
        put(element, row, d, value[d], scale);
    }
    if (has_scale(element)) {
        std::memcpy(row + elements_bytes(element, dh), &scale, sizeof scale);
    }
}

// int4 values: rows of the first kPreciseValues positions are int8, the 4-bit ones follow them.
size_t precise_rows_bytes(int64_t dh) { return kPreciseValues * value_row_bytes(KvElement::int8, dh); }

} // namespace

size_t key_tile_bytes(KvElement element, int64_t head_size) {
    return elements_bytes(element, key_tile_elements(element, head_size)) + (has_scale(element) ? kKeyTile * sizeof(float) : 0);
}

size_t value_row_bytes(KvElement element, int64_t head_size) {
    return elements_bytes(element, head_size) + (has_scale(element) ? sizeof(float) : 0);
}

size_t values_bytes(KvElement element, int64_t head_size, int64_t capacity) {
    if (element != KvElement::int4) {
        return value_row_bytes(element, head_size) * capacity;
    }
    const int64_t precise = std::min(capacity, kPreciseValues);
    return value_row_bytes(KvElement::int8, head_size) * precise + value_row_bytes(KvElement::int4, head_size) * (capacity - precise);
}

void store_key(KvElement element, int64_t dh, const float *key, char *tiles, int64_t position) {
    char *tile = tiles + (position / kKeyTile) * key_tile_bytes(element, dh);
    const int64_t column = position % kKeyTile;
    const float scale = vector_scale(element, key, dh);
    for (int64_t d = 0; d < dh; d++) {
        put(element, tile, key_index(element, d, column), key[d], scale);
    }
    if (has_scale(element)) {
        reinterpret_cast<float *>(tile + elements_bytes(element, key_tile_elements(element, dh)))[column] = scale;
    }
}

void store_value(KvElement element, int64_t dh, const float *value, char *rows, int64_t position) {
    if (element == KvElement::int4) { // an int8 row of the first positions, or a 4-bit one after them
        if (position < kPreciseValues) {
            element = KvElement::int8;
        } else {
            rows += precise_rows_bytes(dh);
            position -= kPreciseValues;
        }
    }
    store_row(element, dh, value, rows + position * value_row_bytes(element, dh));
}

void key_scores(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    (vectorizable(element, dh) ? kernels().scores : key_scores_portable)(element, dh, q, tiles, n, scores);
}

void weighted_values(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    std::fill(out, out + dh, 0.0f);
    if (element != KvElement::int4) {
        add_weighted_rows(element, dh, weights, rows, n, out);
        return;
    }
    const int64_t precise = std::min(n, kPreciseValues);
    add_weighted_rows(KvElement::int8, dh, weights, rows, precise, out);
    add_weighted_rows(KvElement::int4, dh, weights + precise, rows + precise_rows_bytes(dh), n - precise, out);
}

} // namespace lofi
