#include "gelu_kernel.h"

#include <cmath>

#include "cpu_features.h"
#include "cpu_neon.h"
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

#ifdef LOFI_ARM

// erf_avx2 on NEON.
LOFI_DOTPROD inline float32x4_t erf_neon(float32x4_t z) {
    const float32x4_t a = vabsq_f32(z);
    const float32x4_t t = vdivq_f32(vdupq_n_f32(1.0f), vfmaq_n_f32(vdupq_n_f32(1.0f), a, 0.3275911f));
    float32x4_t p = vdupq_n_f32(1.061405429f);
    for (const float c : {-1.453152027f, 1.421413741f, -0.284496736f, 0.254829592f}) {
        p = vfmaq_f32(vdupq_n_f32(c), p, t);
    }
    const float32x4_t decay = exp_neon(vnegq_f32(vmulq_f32(a, a)));
    const float32x4_t magnitude = vfmsq_f32(vdupq_n_f32(1.0f), vmulq_f32(p, t), decay);
    return vbslq_f32(vdupq_n_u32(0x80000000u), z, magnitude); // z's sign, the magnitude's rest
}

LOFI_DOTPROD void gelu_neon(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float32x4_t half = vmulq_n_f32(v, 0.5f);
        vst1q_f32(y + i, vfmaq_f32(half, half, erf_neon(vmulq_n_f32(v, kInverseSqrt2))));
    }
    gelu_portable(x + i, y + i, n - i);
}
#endif

} // namespace

void gelu_values(const float *x, float *y, int64_t n) {
    static const auto row = LOFI_ROW_KERNEL(gelu_avx2, gelu_neon, gelu_portable);
    row(x, y, n);
}

} // namespace lofi
