#include "kv_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_features.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOFI_KV_X86 1
#endif

namespace lofi {

namespace {

size_t element_size(KvElement element) {
    switch (element) {
    case KvElement::f32:
        return 4;
    case KvElement::f16:
        return 2;
    case KvElement::int8:
        return 1;
    }
    return 0;
}

// The int8 scale of a vector: its largest magnitude maps to 127.
float int8_scale(const float *x, int64_t n) {
    float top = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        top = std::max(top, std::fabs(x[i]));
    }
    return top / 127.0f;
}

int8_t to_int8(float x, float scale) { return scale == 0.0f ? 0 : static_cast<int8_t>(std::lrintf(x / scale)); }

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
    }
    return 0.0f;
}

// A tile's or row's int8 scales follow its elements (1 for F32 and F16).
const float *scales_of(KvElement element, const char *base, int64_t elements) {
    return element == KvElement::int8 ? reinterpret_cast<const float *>(base + elements) : nullptr;
}

void key_scores_portable(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    const size_t tile_bytes = key_tile_bytes(element, dh);
    for (int64_t t = 0; t * kKeyTile < n; t++) {
        const char *tile = tiles + t * tile_bytes;
        const float *scales = scales_of(element, tile, dh * kKeyTile);
        const int64_t m = std::min(kKeyTile, n - t * kKeyTile);
        for (int64_t i = 0; i < m; i++) {
            float sum = 0.0f;
            for (int64_t d = 0; d < dh; d++) {
                sum += q[d] * get(element, tile, d * kKeyTile + i);
            }
            scores[t * kKeyTile + i] = scales != nullptr ? sum * scales[i] : sum;
        }
    }
}

void weighted_values_portable(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    const size_t row_bytes = value_row_bytes(element, dh);
    std::fill(out, out + dh, 0.0f);
    for (int64_t i = 0; i < n; i++) {
        const char *row = rows + i * row_bytes;
        const float *scale = scales_of(element, row, dh);
        const float w = scale != nullptr ? weights[i] * *scale : weights[i];
        for (int64_t d = 0; d < dh; d++) {
            out[d] += w * get(element, row, d);
        }
    }
}

#ifdef LOFI_KV_X86
#define LOFI_AVX2 __attribute__((target("avx2,fma,f16c")))

LOFI_AVX2 inline __m256 load8(KvElement element, const char *base, int64_t index) {
    switch (element) {
    case KvElement::f32:
        return _mm256_loadu_ps(reinterpret_cast<const float *>(base) + index);
    case KvElement::f16:
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    case KvElement::int8:
        return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(base + index))));
    }
    return _mm256_setzero_ps();
}

// 64 positions' scores accumulate in 8 registers along the head dimension: no horizontal sums.
LOFI_AVX2 void key_scores_avx2(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    static_assert(kKeyTile == 64, "8 registers of 8 scores");
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
        if (const float *scales = scales_of(element, tile, dh * kKeyTile)) {
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

// Up to 64 output dimensions at a time accumulate in registers along the positions.
LOFI_AVX2 void weighted_values_avx2(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    const size_t row_bytes = value_row_bytes(element, dh);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 8);
        __m256 acc[8];
        for (__m256 &a : acc) {
            a = _mm256_setzero_ps();
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
#endif

struct Kernels {
    void (*scores)(KvElement, int64_t, const float *, const char *, int64_t, float *);
    void (*weighted)(KvElement, int64_t, const float *, const char *, int64_t, float *);
};

const Kernels &kernels() {
    static const Kernels chosen = [] {
#ifdef LOFI_KV_X86
        if (cpu_kernels_vectorised()) {
            return Kernels{key_scores_avx2, weighted_values_avx2};
        }
#endif
        return Kernels{key_scores_portable, weighted_values_portable};
    }();
    return chosen;
}

bool vectorizable(int64_t dh) { return dh % 8 == 0; }

} // namespace

size_t key_tile_bytes(KvElement element, int64_t head_size) {
    return element_size(element) * head_size * kKeyTile + (element == KvElement::int8 ? kKeyTile * sizeof(float) : 0);
}

size_t value_row_bytes(KvElement element, int64_t head_size) {
    return element_size(element) * head_size + (element == KvElement::int8 ? sizeof(float) : 0);
}

void store_key(KvElement element, int64_t dh, const float *key, char *tiles, int64_t position) {
    char *tile = tiles + (position / kKeyTile) * key_tile_bytes(element, dh);
    const int64_t column = position % kKeyTile;
    const float scale = element == KvElement::int8 ? int8_scale(key, dh) : 1.0f;
    for (int64_t d = 0; d < dh; d++) {
        put(element, tile, d * kKeyTile + column, key[d], scale);
    }
    if (element == KvElement::int8) {
        reinterpret_cast<float *>(tile + dh * kKeyTile)[column] = scale;
    }
}

void store_value(KvElement element, int64_t dh, const float *value, char *rows, int64_t position) {
    char *row = rows + position * value_row_bytes(element, dh);
    const float scale = element == KvElement::int8 ? int8_scale(value, dh) : 1.0f;
    for (int64_t d = 0; d < dh; d++) {
        put(element, row, d, value[d], scale);
    }
    if (element == KvElement::int8) {
        std::memcpy(row + dh, &scale, sizeof scale);
    }
}

void key_scores(KvElement element, int64_t dh, const float *q, const char *tiles, int64_t n, float *scores) {
    (vectorizable(dh) ? kernels().scores : key_scores_portable)(element, dh, q, tiles, n, scores);
}

void weighted_values(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out) {
    (vectorizable(dh) ? kernels().weighted : weighted_values_portable)(element, dh, weights, rows, n, out);
}

} // namespace lofi
