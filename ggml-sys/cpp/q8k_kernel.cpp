#include "q8k_kernel.h"

#include <algorithm>
#include <cmath>

#include "cpu_features.h"
#include "cpu_neon.h"
#include "cpu_simd.h"
#include "nearest_int.h"

namespace lofi {

namespace {

void quantize_q8k_portable(const float *x, int8_t *q, float &scale, int32_t *sums) {
    float top = 0.0f;
    for (int64_t i = 0; i < kQ8kValues; i++) {
        top = std::max(top, std::fabs(x[i]));
    }
    scale = top / 127.0f;
    const float inverse = top == 0.0f ? 0.0f : 127.0f / top;
    for (int64_t s = 0; s < kQ8kValues / kQ8kSumValues; s++) {
        int32_t sum = 0;
        for (int64_t i = s * kQ8kSumValues; i < (s + 1) * kQ8kSumValues; i++) {
            q[i] = static_cast<int8_t>(std::clamp(nearest_int(x[i] * inverse), -127, 127));
            sum += q[i];
        }
        sums[s] = sum;
    }
}

#ifdef LOFI_X86

// The lane sums of 8 vectors: out[k] = the sum of g[k]'s 8 lanes.
LOFI_AVX2 inline __m256i lane_sums(const __m256i *g) {
    const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(g[0], g[1]), _mm256_hadd_epi32(g[2], g[3]));
    const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(g[4], g[5]), _mm256_hadd_epi32(g[6], g[7]));
    // Each 128-bit half holds half of each sum: [g0 g1 g2 g3] low and high in h0, g4.. in h1.
    const __m256i low = _mm256_permute2x128_si256(h0, h1, 0x20), high = _mm256_permute2x128_si256(h0, h1, 0x31);
    return _mm256_add_epi32(low, high);
}

// Rounds as nearest_int (cvtps rounds ties to even in the default mode), 8 values at a time.
LOFI_AVX2 void quantize_q8k_avx2(const float *x, int8_t *q, float &scale, int32_t *sums) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 tops = _mm256_setzero_ps();
    for (int64_t i = 0; i < kQ8kValues; i += 8) {
        tops = _mm256_max_ps(tops, _mm256_and_ps(_mm256_loadu_ps(x + i), magnitude));
    }
    const float top = largest_lane(tops);
    scale = top / 127.0f;
    const __m256 inverse = _mm256_set1_ps(top == 0.0f ? 0.0f : 127.0f / top);
    const __m256i most = _mm256_set1_epi32(127), least = _mm256_set1_epi32(-127);
    __m256i groups[16]; // per 16 values, the 8 lanes of their partial sums
    for (int64_t i = 0; i < kQ8kValues; i += 32) {
        __m256i r[4];
        for (int j = 0; j < 4; j++) {
            r[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * j), inverse));
            r[j] = _mm256_max_epi32(_mm256_min_epi32(r[j], most), least);
        }
        _mm256_storeu_si256(reinterpret_cast<__m256i *>(q + i), packed_int8(r));
        groups[i / 16] = _mm256_add_epi32(r[0], r[1]);
        groups[i / 16 + 1] = _mm256_add_epi32(r[2], r[3]);
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(sums), lane_sums(groups));
    _mm256_storeu_si256(reinterpret_cast<__m256i *>(sums + 8), lane_sums(groups + 8));
}

#endif

#ifdef LOFI_ARM

// Rounds as nearest_int (vcvtnq: to nearest, ties to even), 16 values (a sum's) at a time.
LOFI_DOTPROD void quantize_q8k_neon(const float *x, int8_t *q, float &scale, int32_t *sums) {
    float32x4_t tops = vdupq_n_f32(0.0f);
    for (int64_t i = 0; i < kQ8kValues; i += 4) {
        tops = vmaxq_f32(tops, vabsq_f32(vld1q_f32(x + i)));
    }
    const float top = vmaxvq_f32(tops);
    scale = top / 127.0f;
    const float inverse = top == 0.0f ? 0.0f : 127.0f / top;
    const int32x4_t most = vdupq_n_s32(127), least = vdupq_n_s32(-127);
    for (int64_t s = 0; s < kQ8kValues / kQ8kSumValues; s++) {
        int32x4_t r[4];
        for (int j = 0; j < 4; j++) {
            const float32x4_t scaled = vmulq_n_f32(vld1q_f32(x + kQ8kSumValues * s + 4 * j), inverse);
            r[j] = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(scaled), least), most);
        }
        const int16x8_t low = vcombine_s16(vmovn_s32(r[0]), vmovn_s32(r[1])), high = vcombine_s16(vmovn_s32(r[2]), vmovn_s32(r[3]));
        vst1q_s8(q + kQ8kSumValues * s, vcombine_s8(vmovn_s16(low), vmovn_s16(high)));
        sums[s] = vaddvq_s32(vaddq_s32(vaddq_s32(r[0], r[1]), vaddq_s32(r[2], r[3])));
    }
}

#endif

} // namespace

void quantize_q8k(const float *x, int8_t *q, float &scale, int32_t *sums) {
    static const auto superblock = LOFI_ROW_KERNEL(quantize_q8k_avx2, quantize_q8k_neon, quantize_q8k_portable);
    superblock(x, q, scale, sums);
}

} // namespace lofi
