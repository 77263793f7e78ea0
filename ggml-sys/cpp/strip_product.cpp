#include "strip_product.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "gelu_kernel.h"
#include "q8k_kernel.h"
#include "strip_kernels.h"
#include "thread_share.h"

namespace lofi {

namespace {

// A quantized row's bytes: `inputs` int8 values, one f32 scale per superblock from
// scales_at(inputs), one int32 sum per kStripSumInputs values from sums_at(inputs).
size_t scales_at(int64_t inputs) { return static_cast<size_t>(inputs); }
size_t sums_at(int64_t inputs) { return scales_at(inputs) + inputs / kStripSuperblock * sizeof(float); }
size_t quantized_row_bytes(int64_t inputs) { return sums_at(inputs) + inputs / kStripSumInputs * sizeof(int32_t); }

QuantizedRow quantized_row(const char *row, int64_t inputs) {
    return {reinterpret_cast<const int8_t *>(row), reinterpret_cast<const float *>(row + scales_at(inputs)),
            reinterpret_cast<const int32_t *>(row + sums_at(inputs))};
}

// Superblock b of an input row from its kStripSuperblock values x, as GGML's quantize_row_q8_K.
void quantize_superblock(const float *x, char *row, int64_t inputs, int64_t b) {
    static_assert(kStripSuperblock == kQ8kValues && kStripSumInputs == kQ8kSumValues, "the strips take Q8_K inputs");
    quantize_q8k(x, reinterpret_cast<int8_t *>(row) + b * kStripSuperblock, reinterpret_cast<float *>(row + scales_at(inputs))[b],
                 reinterpret_cast<int32_t *>(row + sums_at(inputs)) + b * (kStripSuperblock / kStripSumInputs));
}

// quantize_superblock of GELU(x)'s values.
void quantize_gelu_superblock(const float *x, char *row, int64_t inputs, int64_t b) {
    float activated[kStripSuperblock];
    gelu_values(x, activated, kStripSuperblock);
    quantize_superblock(activated, row, inputs, b);
}

// quantize_op's userdata for the GELU of the values (strip_input_gelu); nullptr: as they are.
constexpr char kGelu = 1;

// Threads share the superblocks.
void quantize_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const ggml_tensor *x = dst->src[0];
    const int64_t inputs = x->ne[0], superblocks = inputs / kStripSuperblock;
    int64_t begin = 0, end = 0;
    thread_share(superblocks * x->ne[1], ith, nth, begin, end);
    for (int64_t i = begin; i < end; i++) {
        const int64_t row = i / superblocks, superblock = i % superblocks;
        const float *values = reinterpret_cast<const float *>(static_cast<const char *>(x->data) + row * x->nb[1]) + superblock * kStripSuperblock;
        char *quantized = static_cast<char *>(dst->data) + row * dst->nb[1];
        (userdata == &kGelu ? quantize_gelu_superblock : quantize_superblock)(values, quantized, inputs, superblock);
    }
}

// y = (x - mean) / sqrt(variance + epsilon) * w + b over one row of n, as GGML's norm, mul and
// add compute it (the sums in 16 lanes, as its vector code).
void layer_norm_row(const float *x, const float *w, const float *b, int64_t n, float epsilon, float *y) {
    constexpr int64_t kLanes = 16;
    auto lane_sum = [&](auto term) {
        float lanes[kLanes] = {};
        int64_t i = 0;
        for (; i + kLanes <= n; i += kLanes) {
            for (int64_t k = 0; k < kLanes; k++) {
                lanes[k] += term(i + k);
            }
        }
        double sum = 0.0;
        for (; i < n; i++) {
            sum += term(i);
        }
        for (float lane : lanes) {
            sum += lane;
        }
        return static_cast<float>(sum);
    };
    const float mean = lane_sum([&](int64_t i) { return x[i]; }) / static_cast<float>(n);
    const float variance = lane_sum([&](int64_t i) { return (x[i] - mean) * (x[i] - mean); }) / static_cast<float>(n);
    const float scale = 1.0f / std::sqrt(variance + epsilon);
    for (int64_t i = 0; i < n; i++) {
        y[i] = (x[i] - mean) * scale * w[i] + b[i];
    }
}

// src: x, w, b; userdata: epsilon. A row's statistics need all of it, so threads share rows.
void normed_quantize_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const ggml_tensor *x = dst->src[0];
    const auto *w = static_cast<const float *>(dst->src[1]->data), *b = static_cast<const float *>(dst->src[2]->data);
    const float epsilon = *static_cast<const float *>(userdata);
    const int64_t inputs = x->ne[0];
    thread_local std::vector<float> normed;
    normed.resize(inputs);
    for (int64_t row = ith; row < x->ne[1]; row += nth) {
        layer_norm_row(reinterpret_cast<const float *>(static_cast<const char *>(x->data) + row * x->nb[1]), w, b, inputs, epsilon,
                       normed.data());
        for (int64_t superblock = 0; superblock < inputs / kStripSuperblock; superblock++) {
            quantize_superblock(normed.data() + superblock * kStripSuperblock, static_cast<char *>(dst->data) + row * dst->nb[1], inputs,
                                superblock);
        }
    }
}

// The format of a weight's strips, told by their tile's bytes.
StripFormat format_of(const ggml_tensor *strips) {
    for (StripFormat format : {StripFormat::q4_k, StripFormat::q5_k, StripFormat::q6_k}) {
        if (strips->ne[0] == static_cast<int64_t>(strip_tile_bytes(format))) {
            return format;
        }
    }
    return StripFormat::q8_0;
}

// Strips [begin, end) of one weight times the quantized rows of x, into out ([rows, n]
// contiguous), plus those rows of `residual` where there is one (as GGML's add would, one node
// and barrier later); the residual's rows past x's n are copied as they are (strip_product).
// Rows go to the kernel in pairs: one load of the weights serves both.
void multiply_strips(const ggml_tensor *strips, const ggml_tensor *x, const ggml_tensor *residual, StripKernel kernel, int64_t begin,
                     int64_t end, float *out) {
    const int64_t superblocks = strips->ne[1], inputs = superblocks * kStripSuperblock, rows = strips->ne[2] * kStripRows;
    for (int64_t r0 = 0; r0 < x->ne[1]; r0 += 2) {
        const int n_rows = static_cast<int>(std::min<int64_t>(2, x->ne[1] - r0));
        QuantizedRow quantized[2];
        float *row_out[2];
        for (int r = 0; r < n_rows; r++) {
            quantized[r] = quantized_row(static_cast<const char *>(x->data) + (r0 + r) * x->nb[1], inputs);
            row_out[r] = out + (r0 + r) * rows;
        }
        kernel(strips->data, superblocks, begin, end, quantized, n_rows, row_out);
        if (residual != nullptr) {
            for (int r = 0; r < n_rows; r++) {
                const auto *added = reinterpret_cast<const float *>(static_cast<const char *>(residual->data) + (r0 + r) * residual->nb[1]);
                for (int64_t i = begin * kStripRows; i < end * kStripRows; i++) {
                    row_out[r][i] += added[i];
                }
            }
        }
    }
    for (int64_t r = x->ne[1]; residual != nullptr && r < residual->ne[1]; r++) {
        const auto *passed = reinterpret_cast<const float *>(static_cast<const char *>(residual->data) + r * residual->nb[1]);
        std::copy(passed + begin * kStripRows, passed + end * kStripRows, out + r * rows + begin * kStripRows);
    }
}

// src: the quantized x, then the strips of one or more weights, then (F32, with one weight) a
// residual; userdata: the CpuKernels level. dst holds each weight's product [rows, n] after the
// previous one's. One node for the products of one input (a layer's Q, K and V: three small
// products, each ~0.3 MB a thread, paid a barrier and a hand-over of the input each). Threads
// share each weight's strips in turn: the weights' formats may differ (Q4_K_M's V is Q6_K in some
// layers, 1.4x the bytes), and each weight's product is spread over all threads as alone.
void product_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const CpuKernels level = *static_cast<const CpuKernels *>(userdata);
    const ggml_tensor *x = dst->src[0];
    int weights = 1; // src[1, weights) are strips
    while (weights < GGML_MAX_SRC && dst->src[weights] != nullptr && dst->src[weights]->type != GGML_TYPE_F32) {
        weights++;
    }
    const ggml_tensor *residual = weights < GGML_MAX_SRC ? dst->src[weights] : nullptr;
    auto *out = static_cast<float *>(dst->data);
    for (int i = 1; i < weights; i++) {
        const ggml_tensor *strips = dst->src[i];
        int64_t begin = 0, end = 0;
        thread_share(strips->ne[2], ith, nth, begin, end);
        multiply_strips(strips, x, residual, strip_kernel(format_of(strips), level), begin, end, out);
        out += strips->ne[2] * kStripRows * x->ne[1];
    }
}

// src: the quantized x, the strips; userdata: the CpuKernels level. dst: GELU of the product,
// quantized as strip_input's (its rows are the next product's inputs). Threads share the output's
// superblocks (16 strips each) and quantize those they computed: one node and barrier where the
// product and the quantizing node were two, and no F32 product in between.
void product_gelu_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const CpuKernels level = *static_cast<const CpuKernels *>(userdata);
    const ggml_tensor *x = dst->src[0], *strips = dst->src[1];
    const int64_t outputs = strips->ne[2] * kStripRows, strips_per_superblock = kStripSuperblock / kStripRows;
    int64_t begin = 0, end = 0;
    thread_share(outputs / kStripSuperblock, ith, nth, begin, end);
    thread_local std::vector<float> products; // [outputs, n]; a thread fills its superblocks'
    products.resize(outputs * x->ne[1]);
    multiply_strips(strips, x, nullptr, strip_kernel(format_of(strips), level), begin * strips_per_superblock, end * strips_per_superblock,
                    products.data());
    for (int64_t row = 0; row < x->ne[1]; row++) {
        for (int64_t superblock = begin; superblock < end; superblock++) {
            quantize_gelu_superblock(products.data() + row * outputs + superblock * kStripSuperblock,
                                     static_cast<char *>(dst->data) + row * dst->nb[1], outputs, superblock);
        }
    }
}

// The userdata that hands the product ops `level`.
void *level_userdata(CpuKernels level) { return const_cast<CpuKernels *>(&kCpuKernelLevels[static_cast<size_t>(level)]); }

// x as contiguous rows [inputs, n] for an input node.
ggml_tensor *rows_of(ggml_context *ctx, ggml_tensor *x) {
    if (!ggml_is_contiguous(x)) {
        x = ggml_cont(ctx, x);
    }
    return ggml_reshape_2d(ctx, x, x->ne[0], ggml_nelements(x) / x->ne[0]);
}

} // namespace

ggml_tensor *new_strip_tensor(ggml_context *ctx, StripFormat format, int64_t inputs, int64_t rows) {
    return ggml_new_tensor_3d(ctx, GGML_TYPE_I8, static_cast<int64_t>(strip_tile_bytes(format)), inputs / kStripSuperblock,
                              rows / kStripRows);
}

ggml_tensor *strip_input(ggml_context *ctx, ggml_tensor *x) {
    x = rows_of(ctx, x);
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_I8, static_cast<int64_t>(quantized_row_bytes(x->ne[0])), x->ne[1], 1, 1, &x, 1,
                                        quantize_op, GGML_N_TASKS_MAX, nullptr),
                         "quantize");
}

ggml_tensor *strip_input_normed(ggml_context *ctx, ggml_tensor *x, ggml_tensor *w, ggml_tensor *b, const float &epsilon) {
    x = rows_of(ctx, x);
    ggml_tensor *args[3] = {x, w, b};
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_I8, static_cast<int64_t>(quantized_row_bytes(x->ne[0])), x->ne[1], 1, 1, args, 3,
                                        normed_quantize_op, GGML_N_TASKS_MAX, const_cast<float *>(&epsilon)),
                         "norm, quantize");
}

ggml_tensor *strip_input_gelu(ggml_context *ctx, ggml_tensor *x) {
    x = rows_of(ctx, x);
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_I8, static_cast<int64_t>(quantized_row_bytes(x->ne[0])), x->ne[1], 1, 1, &x, 1,
                                        quantize_op, GGML_N_TASKS_MAX, const_cast<char *>(&kGelu)),
                         "gelu, quantize");
}

ggml_tensor *strip_product(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, ggml_tensor *residual, CpuKernels level) {
    GGML_ASSERT(residual == nullptr || residual->ne[1] >= quantized_x->ne[1]);
    ggml_tensor *args[3] = {quantized_x, strips, residual};
    const int64_t n = residual != nullptr ? residual->ne[1] : quantized_x->ne[1];
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_F32, strips->ne[2] * kStripRows, n, 1, 1, args, residual != nullptr ? 3 : 2, product_op,
                                        GGML_N_TASKS_MAX, level_userdata(level)),
                         residual != nullptr ? "strip product, residual" : "strip product");
}

std::vector<ggml_tensor *> strip_products(ggml_context *ctx, const std::vector<ggml_tensor *> &strips, ggml_tensor *quantized_x,
                                          CpuKernels level) {
    GGML_ASSERT(!strips.empty() && static_cast<int>(strips.size()) <= kMaxStripWeights);
    const int64_t n = quantized_x->ne[1];
    std::vector<ggml_tensor *> args{quantized_x};
    int64_t all_rows = 0;
    for (ggml_tensor *weight : strips) {
        args.push_back(weight);
        all_rows += weight->ne[2] * kStripRows;
    }
    ggml_tensor *products = ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_F32, all_rows * n, 1, 1, 1, args.data(), static_cast<int>(args.size()),
                                                         product_op, GGML_N_TASKS_MAX, level_userdata(level)),
                                          "strip products");
    std::vector<ggml_tensor *> each;
    size_t offset = 0;
    for (ggml_tensor *weight : strips) {
        const int64_t rows = weight->ne[2] * kStripRows;
        each.push_back(ggml_view_2d(ctx, products, rows, n, rows * sizeof(float), offset));
        offset += rows * n * sizeof(float);
    }
    return each;
}

bool strip_product_gelu_fits(const ggml_tensor *strips) { return strips->ne[2] * kStripRows % kStripSuperblock == 0; }

ggml_tensor *strip_product_gelu(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, CpuKernels level) {
    GGML_ASSERT(strip_product_gelu_fits(strips));
    const int64_t outputs = strips->ne[2] * kStripRows;
    ggml_tensor *args[2] = {quantized_x, strips};
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_I8, static_cast<int64_t>(quantized_row_bytes(outputs)), quantized_x->ne[1], 1, 1, args, 2,
                                        product_gelu_op, GGML_N_TASKS_MAX, level_userdata(level)),
                         "strip product, gelu, quantize");
}

} // namespace lofi
