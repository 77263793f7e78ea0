#include "elu_kernel.h"

#include <cmath>

#include "cpu_features.h"

#include "cpu_simd.h"

namespace lofi {

namespace {

void elu_portable(const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        y[i] = x[i] > 0.0f ? x[i] : std::expm1f(x[i]);
    }
}

#ifdef LOFI_X86

LOFI_AVX2 void elu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 negative = exp_minus(_mm256_min_ps(v, _mm256_setzero_ps()), _mm256_set1_ps(1.0f));
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(negative, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)));
    }
    elu_portable(x + i, y + i, n - i);
}
#endif

// dst = ELU(a), rows shared among the compute threads; a's rows are contiguous (checked when
// the op is built).
void elu_op(ggml_tensor *dst, const ggml_tensor *a, int ith, int nth, void *) {
    const int64_t width = a->ne[0], rows = ggml_nrows(a);
    const int64_t per_thread = (rows + nth - 1) / nth, first = per_thread * ith, last = std::min(rows, first + per_thread);
    for (int64_t r = first; r < last; r++) {
        const int64_t i1 = r % a->ne[1], i2 = r / a->ne[1] % a->ne[2], i3 = r / a->ne[1] / a->ne[2];
        const char *src = static_cast<const char *>(a->data) + i1 * a->nb[1] + i2 * a->nb[2] + i3 * a->nb[3];
        elu_values(reinterpret_cast<const float *>(src), static_cast<float *>(dst->data) + r * width, width);
    }
}

} // namespace

void elu_values(const float *x, float *y, int64_t n) {
    static const auto row = LOFI_ROW_KERNEL(elu_avx2, elu_portable);
    row(x, y, n);
}

ggml_tensor *elu(ggml_context *ctx, ggml_tensor *x, bool cpu_kernels) {
    if (!cpu_kernels || x->type != GGML_TYPE_F32 || x->nb[0] != sizeof(float)) {
        return ggml_elu(ctx, x);
    }
    return ggml_map_custom1(ctx, x, elu_op, GGML_N_TASKS_MAX, nullptr);
}

} // namespace lofi
