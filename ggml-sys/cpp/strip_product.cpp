#include "strip_product.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_features.h"
#include "strip_layout.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LOFI_STRIP_X86 1
#endif

namespace lofi {

namespace {

constexpr int64_t kSuperblock = 256, kSubBlock = 32;

// A quantized input row: `inputs` int8 values, then one f32 scale per superblock, then the int32
// sum of each sub-block's values (what the Q4_K mins multiply).
struct QuantizedRow {
    const int8_t *q;
    const float *d;
    const int32_t *sums;
};

size_t quantized_row_bytes(int64_t inputs) {
    return static_cast<size_t>(inputs) + inputs / kSuperblock * sizeof(float) + inputs / kSubBlock * sizeof(int32_t);
}

QuantizedRow quantized_row(const char *row, int64_t inputs) {
    return {reinterpret_cast<const int8_t *>(row), reinterpret_cast<const float *>(row + inputs),
            reinterpret_cast<const int32_t *>(row + inputs + inputs / kSuperblock * sizeof(float))};
}

// Superblock b of an input row, as GGML's quantize_row_q8_K: the element of largest magnitude
// maps to -127 or 127.
void quantize_superblock(const float *x, char *row, int64_t inputs, int64_t b) {
    auto *q = reinterpret_cast<int8_t *>(row) + b * kSuperblock;
    auto *d = reinterpret_cast<float *>(row + inputs) + b;
    auto *sums = reinterpret_cast<int32_t *>(row + inputs + inputs / kSuperblock * sizeof(float)) + b * (kSuperblock / kSubBlock);
    x += b * kSuperblock;
    float top = 0.0f;
    for (int64_t i = 0; i < kSuperblock; i++) {
        top = std::max(top, std::fabs(x[i]));
    }
    *d = top / 127.0f;
    const float inverse = top == 0.0f ? 0.0f : 127.0f / top;
    for (int64_t s = 0; s < kSuperblock / kSubBlock; s++) {
        int32_t sum = 0;
        for (int64_t i = s * kSubBlock; i < (s + 1) * kSubBlock; i++) {
            q[i] = static_cast<int8_t>(std::clamp(std::lrintf(x[i] * inverse), -127L, 127L));
            sum += q[i];
        }
        sums[s] = sum;
    }
}

// Strips [begin, end) times up to two quantized rows: out[r][strip * 16 + i].
using StripKernel = void (*)(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end,
                             const QuantizedRow *rows, int n_rows, float *const *out);

void strips_portable(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                     int n_rows, float *const *out) {
    for (int64_t s = begin; s < end; s++) {
        for (int r = 0; r < n_rows; r++) {
            for (int64_t o = 0; o < kStripRows; o++) {
                float acc = 0.0f;
                for (int64_t b = 0; b < superblocks; b++) {
                    const StripTile &t = tiles[s * superblocks + b];
                    const int8_t *a = rows[r].q + b * kSuperblock;
                    int32_t scaled = 0, mins = 0;
                    for (int j = 0; j < 8; j++) {
                        int32_t dot = 0;
                        for (int g = 0; g < 4; g++) {
                            for (int i = 0; i < 4; i++) {
                                const uint8_t packed = t.qs[j][g][4 * o + i];
                                dot += (packed & 0x0F) * a[kSubBlock * j + 8 * g + i] + (packed >> 4) * a[kSubBlock * j + 8 * g + 4 + i];
                            }
                        }
                        scaled += dot * t.scales[j][o];
                        mins += t.mins[j][o] * rows[r].sums[b * 8 + j];
                    }
                    acc += rows[r].d[b] * (ggml_fp16_to_fp32(t.d[o]) * static_cast<float>(scaled) -
                                           ggml_fp16_to_fp32(t.dmin[o]) * static_cast<float>(mins));
                }
                out[r][s * kStripRows + o] = acc;
            }
        }
    }
}

#ifdef LOFI_STRIP_X86
#define LOFI_AVX2 __attribute__((target("avx2,fma,f16c")))

LOFI_AVX2 inline __m256i broadcast4(const int8_t *bytes) {
    int32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return _mm256_set1_epi32(word);
}

// Each half of a tile (rows 8h..8h+7: 32 bytes of every 64) is unpacked once for all the input
// rows; maddubs multiplies the nibbles by the int8 inputs, pairs summed in int16 (8 of them, at
// most 8 * 2 * 15 * 127 = 30480, do not overflow), madd sums the pairs into one int32 per row.
template <int R>
LOFI_AVX2 void strips_avx2_rows(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end,
                                const QuantizedRow *rows, float *const *out) {
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t s = begin; s < end; s++) {
        __m256 acc[R][2];
        for (int r = 0; r < R; r++) {
            acc[r][0] = acc[r][1] = _mm256_setzero_ps();
        }
        for (int64_t b = 0; b < superblocks; b++) {
            const StripTile &t = tiles[s * superblocks + b];
            // The next tile, a superblock's work ahead: without it the loads stall (1.5x slower).
            const char *next = reinterpret_cast<const char *>(&t + 1);
            for (size_t line = 0; line < sizeof(StripTile); line += 64) {
                _mm_prefetch(next + line, _MM_HINT_T0);
            }
            for (int h = 0; h < 2; h++) {
                __m256i scaled[R], mins[R];
                for (int r = 0; r < R; r++) {
                    scaled[r] = mins[r] = _mm256_setzero_si256();
                }
                for (int j = 0; j < 8; j++) {
                    __m256i pairs[R];
                    for (int r = 0; r < R; r++) {
                        pairs[r] = _mm256_setzero_si256();
                    }
                    for (int g = 0; g < 4; g++) {
                        const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.qs[j][g] + 32 * h));
                        const __m256i low = _mm256_and_si256(w, nibble), high = _mm256_and_si256(_mm256_srli_epi16(w, 4), nibble);
                        for (int r = 0; r < R; r++) {
                            const int8_t *a = rows[r].q + b * kSuperblock + kSubBlock * j + 8 * g;
                            pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(low, broadcast4(a)));
                            pairs[r] = _mm256_add_epi16(pairs[r], _mm256_maddubs_epi16(high, broadcast4(a + 4)));
                        }
                    }
                    const __m256i scale = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(t.scales[j] + 8 * h)));
                    const __m256i min = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i *>(t.mins[j] + 8 * h)));
                    for (int r = 0; r < R; r++) {
                        scaled[r] = _mm256_add_epi32(scaled[r], _mm256_mullo_epi32(_mm256_madd_epi16(pairs[r], ones), scale));
                        mins[r] = _mm256_add_epi32(mins[r], _mm256_mullo_epi32(min, _mm256_set1_epi32(rows[r].sums[b * 8 + j])));
                    }
                }
                const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.d + 8 * h)));
                const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.dmin + 8 * h)));
                for (int r = 0; r < R; r++) {
                    const __m256 da = _mm256_set1_ps(rows[r].d[b]);
                    acc[r][h] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(scaled[r]), _mm256_mul_ps(d, da), acc[r][h]);
                    acc[r][h] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins[r]), _mm256_mul_ps(dmin, da), acc[r][h]);
                }
            }
        }
        for (int r = 0; r < R; r++) {
            _mm256_storeu_ps(out[r] + s * kStripRows, acc[r][0]);
            _mm256_storeu_ps(out[r] + s * kStripRows + 8, acc[r][1]);
        }
    }
}

LOFI_AVX2 void strips_avx2(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                           int n_rows, float *const *out) {
    if (n_rows == 2) {
        strips_avx2_rows<2>(tiles, superblocks, begin, end, rows, out);
    } else {
        strips_avx2_rows<1>(tiles, superblocks, begin, end, rows, out);
    }
}

#define LOFI_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni,f16c,fma")))
// GCC 12's AVX-512 conversions start from an "undefined" register it then calls uninitialised
// (GCC bug 105593).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// strips_avx2_rows with the 16 rows of a tile in one register and VNNI's int8 dot products
// (four products summed into each int32 lane: no int16 step).
template <int R>
LOFI_AVX512_VNNI void strips_avx512_vnni_rows(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end,
                                              const QuantizedRow *rows, float *const *out) {
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (int64_t s = begin; s < end; s++) {
        __m512 acc[R];
        for (int r = 0; r < R; r++) {
            acc[r] = _mm512_setzero_ps();
        }
        for (int64_t b = 0; b < superblocks; b++) {
            const StripTile &t = tiles[s * superblocks + b];
            const char *next = reinterpret_cast<const char *>(&t + 1);
            for (size_t line = 0; line < sizeof(StripTile); line += 64) {
                _mm_prefetch(next + line, _MM_HINT_T0);
            }
            __m512i scaled[R], mins[R];
            for (int r = 0; r < R; r++) {
                scaled[r] = mins[r] = _mm512_setzero_si512();
            }
            for (int j = 0; j < 8; j++) {
                __m512i dot[R];
                for (int r = 0; r < R; r++) {
                    dot[r] = _mm512_setzero_si512();
                }
                for (int g = 0; g < 4; g++) {
                    const __m512i w = _mm512_loadu_si512(t.qs[j][g]);
                    const __m512i low = _mm512_and_si512(w, nibble), high = _mm512_and_si512(_mm512_srli_epi16(w, 4), nibble);
                    for (int r = 0; r < R; r++) {
                        const int8_t *a = rows[r].q + b * kSuperblock + kSubBlock * j + 8 * g;
                        int32_t a_low, a_high;
                        std::memcpy(&a_low, a, 4);
                        std::memcpy(&a_high, a + 4, 4);
                        dot[r] = _mm512_dpbusd_epi32(dot[r], low, _mm512_set1_epi32(a_low));
                        dot[r] = _mm512_dpbusd_epi32(dot[r], high, _mm512_set1_epi32(a_high));
                    }
                }
                const __m512i scale = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.scales[j])));
                const __m512i min = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(t.mins[j])));
                for (int r = 0; r < R; r++) {
                    scaled[r] = _mm512_add_epi32(scaled[r], _mm512_mullo_epi32(dot[r], scale));
                    mins[r] = _mm512_add_epi32(mins[r], _mm512_mullo_epi32(min, _mm512_set1_epi32(rows[r].sums[b * 8 + j])));
                }
            }
            const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.d)));
            const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(t.dmin)));
            for (int r = 0; r < R; r++) {
                const __m512 da = _mm512_set1_ps(rows[r].d[b]);
                acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(scaled[r]), _mm512_mul_ps(d, da), acc[r]);
                acc[r] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins[r]), _mm512_mul_ps(dmin, da), acc[r]);
            }
        }
        for (int r = 0; r < R; r++) {
            _mm512_storeu_ps(out[r] + s * kStripRows, acc[r]);
        }
    }
}

LOFI_AVX512_VNNI void strips_avx512_vnni(const StripTile *tiles, int64_t superblocks, int64_t begin, int64_t end,
                                         const QuantizedRow *rows, int n_rows, float *const *out) {
    if (n_rows == 2) {
        strips_avx512_vnni_rows<2>(tiles, superblocks, begin, end, rows, out);
    } else {
        strips_avx512_vnni_rows<1>(tiles, superblocks, begin, end, rows, out);
    }
}
#pragma GCC diagnostic pop
#endif

StripKernel strip_kernel(CpuKernels level) {
#ifdef LOFI_STRIP_X86
    switch (level) {
    case CpuKernels::avx512_vnni:
        return strips_avx512_vnni;
    case CpuKernels::avx2:
        return strips_avx2;
    case CpuKernels::portable:
        break;
    }
#endif
    return strips_portable;
}

// The share of [0, n) of thread ith of nth.
void share(int64_t n, int ith, int nth, int64_t &begin, int64_t &end) {
    begin = n * ith / nth;
    end = n * (ith + 1) / nth;
}

void quantize_op(ggml_tensor *dst, int ith, int nth, void *) {
    const ggml_tensor *x = dst->src[0];
    const int64_t inputs = x->ne[0], superblocks = inputs / kSuperblock;
    int64_t begin = 0, end = 0;
    share(superblocks * x->ne[1], ith, nth, begin, end);
    for (int64_t i = begin; i < end; i++) {
        const int64_t row = i / superblocks;
        quantize_superblock(reinterpret_cast<const float *>(static_cast<const char *>(x->data) + row * x->nb[1]),
                            static_cast<char *>(dst->data) + row * dst->nb[1], inputs, i % superblocks);
    }
}

// userdata: the CpuKernels level.
void product_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const ggml_tensor *strips = dst->src[0], *x = dst->src[1];
    const int64_t superblocks = strips->ne[0] / static_cast<int64_t>(sizeof(StripTile)), inputs = superblocks * kSuperblock;
    int64_t begin = 0, end = 0;
    share(strips->ne[1], ith, nth, begin, end);
    const StripKernel kernel = strip_kernel(*static_cast<const CpuKernels *>(userdata));
    for (int64_t r0 = 0; r0 < x->ne[1]; r0 += 2) {
        const int n_rows = static_cast<int>(std::min<int64_t>(2, x->ne[1] - r0));
        QuantizedRow rows[2];
        float *out[2];
        for (int r = 0; r < n_rows; r++) {
            rows[r] = quantized_row(static_cast<const char *>(x->data) + (r0 + r) * x->nb[1], inputs);
            out[r] = reinterpret_cast<float *>(static_cast<char *>(dst->data) + (r0 + r) * dst->nb[1]);
        }
        kernel(static_cast<const StripTile *>(strips->data), superblocks, begin, end, rows, n_rows, out);
    }
}

} // namespace

ggml_tensor *new_strip_tensor(ggml_context *ctx, int64_t inputs, int64_t rows) {
    return ggml_new_tensor_2d(ctx, GGML_TYPE_I8, inputs / kSuperblock * static_cast<int64_t>(sizeof(StripTile)), rows / kStripRows);
}

ggml_tensor *strip_input(ggml_context *ctx, ggml_tensor *x) {
    if (!ggml_is_contiguous(x)) {
        x = ggml_cont(ctx, x);
    }
    x = ggml_reshape_2d(ctx, x, x->ne[0], ggml_nelements(x) / x->ne[0]);
    return ggml_custom_4d(ctx, GGML_TYPE_I8, static_cast<int64_t>(quantized_row_bytes(x->ne[0])), x->ne[1], 1, 1, &x, 1,
                          quantize_op, GGML_N_TASKS_MAX, nullptr);
}

ggml_tensor *strip_product(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, CpuKernels level) {
    ggml_tensor *args[2] = {strips, quantized_x};
    return ggml_custom_4d(ctx, GGML_TYPE_F32, strips->ne[1] * kStripRows, quantized_x->ne[1], 1, 1, args, 2, product_op,
                          GGML_N_TASKS_MAX, const_cast<CpuKernels *>(&kCpuKernelLevels[static_cast<int>(level)]));
}

} // namespace lofi
