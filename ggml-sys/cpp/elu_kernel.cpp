#include "elu_kernel.h"

#include <algorithm>
#include <cmath>

#include "cpu_features.h"

#include "cpu_neon.h"
#include "cpu_simd.h"

namespace lofi {

namespace {

void elu_portable(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : std::expm1f(x[i]);
    }
}

// ELU in F16, rounded as GGML's conversions round (to nearest, ties to even).
void elu_f16_portable(const float *x, ggml_fp16_t *y, int64_t n) {
    constexpr int64_t kPiece = 256;
    float piece[kPiece];
    for (int64_t i = 0; i < n; i += kPiece) {
        const int64_t count = std::min(kPiece, n - i);
        elu_portable(x + i, piece, count);
        ggml_fp32_to_fp16_row(piece, y + i, count);
    }
}

#ifdef LOFI_X86

LOFI_AVX2 inline __m256 elu8(__m256 v) {
    const __m256 negative = exp_minus(_mm256_min_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
    return _mm256_blendv_ps(negative, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ));
}

LOFI_AVX2 void elu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm256_storeu_ps(y + i, elu8(_mm256_loadu_ps(x + i)));
    }
    elu_portable(x + i, y + i, n - i);
}

LOFI_AVX2 void elu_f16_avx2(const float *x, ggml_fp16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i *>(y + i), _mm256_cvtps_ph(elu8(_mm256_loadu_ps(x + i)), _MM_FROUND_TO_NEAREST_INT));
    }
    elu_f16_portable(x + i, y + i, n - i);
}
#endif

#ifdef LOFI_ARM

LOFI_DOTPROD inline float32x4_t elu4(float32x4_t v) {
    const float32x4_t negative = exp_minus_one_neon(vminq_f32(v, vdupq_n_f32(0.0f)));
    return vbslq_f32(vcgtzq_f32(v), v, negative);
}

LOFI_DOTPROD void elu_neon(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1q_f32(y + i, elu4(vld1q_f32(x + i)));
    }
    elu_portable(x + i, y + i, n - i);
}

// vcvt_f16_f32 rounds in the FPCR's mode: to nearest, ties to even, as GGML's conversions.
LOFI_DOTPROD void elu_f16_neon(const float *x, ggml_fp16_t *y, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        vst1_u16(reinterpret_cast<uint16_t *>(y + i), vreinterpret_u16_f16(vcvt_f16_f32(elu4(vld1q_f32(x + i)))));
    }
    elu_f16_portable(x + i, y + i, n - i);
}
#endif

// dst = ELU(src[0]) in dst's type (F32 or F16), rows shared among the compute threads; the
// source's rows are contiguous (checked when the op is built).
void elu_op(ggml_tensor *dst, int ith, int nth, void *) {
    const ggml_tensor *a = dst->src[0];
    const int64_t width = a->ne[0], rows = ggml_nrows(a);
    const int64_t per_thread = (rows + nth - 1) / nth, first = per_thread * ith, last = std::min(rows, first + per_thread);
    for (int64_t r = first; r < last; r++) {
        const int64_t i1 = r % a->ne[1], i2 = r / a->ne[1] % a->ne[2], i3 = r / a->ne[1] / a->ne[2];
        const auto *src = reinterpret_cast<const float *>(static_cast<const char *>(a->data) + i1 * a->nb[1] + i2 * a->nb[2] + i3 * a->nb[3]);
        elu_values_as(src, static_cast<char *>(dst->data) + r * width * ggml_element_size(dst), width, dst->type);
    }
}

} // namespace

void elu_values(const float *x, float *y, int64_t n) {
    static const auto row = LOFI_ROW_KERNEL(elu_avx2, elu_neon, elu_portable);
    row(x, y, n);
}

void elu_values_as(const float *x, void *y, int64_t n, ggml_type type) {
    static const auto f16_row = LOFI_ROW_KERNEL(elu_f16_avx2, elu_f16_neon, elu_f16_portable);
    if (type == GGML_TYPE_F16) {
        f16_row(x, static_cast<ggml_fp16_t *>(y), n);
    } else {
        elu_values(x, static_cast<float *>(y), n);
    }
}

bool elu_kernel_applies(const ggml_tensor *x, bool cpu_kernels) {
    return cpu_kernels && x->type == GGML_TYPE_F32 && x->nb[0] == sizeof(float);
}

ggml_type elu_kernel_type(ggml_type type) { return type == GGML_TYPE_F16 ? GGML_TYPE_F16 : GGML_TYPE_F32; }

ggml_tensor *elu(ggml_context *ctx, ggml_tensor *x, bool cpu_kernels, ggml_type type) {
    if (!elu_kernel_applies(x, cpu_kernels)) {
        return ggml_elu(ctx, x);
    }
    return ggml_set_name(ggml_custom_4d(ctx, elu_kernel_type(type), x->ne[0], x->ne[1], x->ne[2], x->ne[3], &x, 1, elu_op, GGML_N_TASKS_MAX, nullptr),
                         "elu");
}

} // namespace lofi
