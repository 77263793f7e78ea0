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

// exp(x) - 1 for x <= 0, Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, a degree-7 polynomial
// in r, scaled by 2^n. Absolute error ~1e-7 (expm1's relative precision near 0 is not needed:
// what follows adds the result to values of order 1).
LOFI_AVX2 inline __m256 exp_minus_one(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f)); // exp(-87) - 1 is -1 in f32; 2^n stays normal
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_fmsub_ps(e, _mm256_castsi256_ps(two_n), _mm256_set1_ps(1.0f));
}

LOFI_AVX2 void elu_avx2(const float *x, float *y, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 negative = exp_minus_one(_mm256_min_ps(v, _mm256_setzero_ps()));
        _mm256_storeu_ps(y + i, _mm256_blendv_ps(negative, v, _mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_GT_OQ)));
    }
    elu_portable(x + i, y + i, n - i);
}
#endif

using EluRow = void (*)(const float *, float *, int64_t);

EluRow elu_row() {
#ifdef LOFI_X86
    if (cpu_kernels_vectorised()) {
        return elu_avx2;
    }
#endif
    return elu_portable;
}

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
    static const EluRow row = elu_row();
    row(x, y, n);
}

ggml_tensor *elu(ggml_context *ctx, ggml_tensor *x, bool cpu_kernels) {
    if (!cpu_kernels || x->type != GGML_TYPE_F32 || x->nb[0] != sizeof(float)) {
        return ggml_elu(ctx, x);
    }
    return ggml_map_custom1(ctx, x, elu_op, GGML_N_TASKS_MAX, nullptr);
}

} // namespace lofi
