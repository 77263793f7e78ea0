#include "gelu_kernel.h"

#include <cmath>

#include "cpu_features.h"
#include "cpu_simd.h"

namespace lofi {

namespace {

constexpr float kInverseSqrt2 = 0.70710678118654752f;

void gelu_portable(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = 0.5f * x[i] * (1.0f + std::erf(x[i] * kInverseSqrt2));
    }
}

#ifdef LOFI_X86

// erf(z) by Abramowitz and Stegun 7.1.26: 1 - t (a1 + t (a2 + ...)) exp(-z^2), t = 1 / (1 + p z)
// for z >= 0 (odd: the sign comes back after). Absolute error <= 1.5e-7 (plus exp's ~1e-7).
LOFI_AVX2 inline __m256 erf_avx2(__m256 z) {
    const __m256 sign = _mm256_and_ps(z, _mm256_set1_ps(-0.0f));
    const __m256 a = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), a, _mm256_set1_ps(1.0f)));
    __m256 p = _mm256_set1_ps(1.061405429f);
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
    p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
    const __m256 decay = exp_minus(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a), a), _mm256_setzero_ps());
    const __m256 magnitude = _mm256_fnmadd_ps(_mm256_mul_ps(p, t), decay, _mm256_set1_ps(1.0f));
    return _mm256_or_ps(magnitude, sign);
}

LOFI_AVX2 void gelu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 half = _mm256_mul_ps(v, _mm256_set1_ps(0.5f));
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(half, erf_avx2(_mm256_mul_ps(v, _mm256_set1_ps(kInverseSqrt2))), half));
    }
    gelu_portable(x + i, y + i, n - i);
}
#endif

} // namespace

void gelu_values(const float *x, float *y, int64_t n) {
    static const auto row = LOFI_ROW_KERNEL(gelu_avx2, gelu_portable);
    row(x, y, n);
}

} // namespace lofi
