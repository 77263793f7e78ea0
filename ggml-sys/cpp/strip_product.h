// Products with weights laid out in strips (strip_layout.h) as GGML nodes: one quantizes the
// input rows as K-quant products take them (int8 with one scale per 256 and the sums of each 16,
// GGML's Q8_K), one multiplies them by a weight's strips on our own CPU kernels
// (strip_kernels.h). One quantized input serves every product of that input.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu_features.h"
#include "ggml.h"
#include "strip_layout.h"

namespace lofi {

// The strips of a weight of that format with `rows` output rows and `inputs` inputs as a GGML
// tensor ([tile bytes, superblocks, strips] bytes), created in ctx without data.
ggml_tensor *new_strip_tensor(ggml_context *ctx, StripFormat format, int64_t inputs, int64_t rows);

// x [inputs, n] F32 (inputs a multiple of 256) quantized for strip_product.
ggml_tensor *strip_input(ggml_context *ctx, ggml_tensor *x);

// The layer norm of x's rows, (x - mean) / sqrt(variance + epsilon) * w + b (w, b [inputs] F32),
// quantized for strip_product: one node where GGML's norm, mul and add and strip_input were four
// (a node costs ~1.5 us of thread barriers on 2 threads; a decode step had ~900 nodes, 315 now).
// `epsilon` is read when the graph computes.
ggml_tensor *strip_input_normed(ggml_context *ctx, ggml_tensor *x, ggml_tensor *w, ggml_tensor *b, const float &epsilon);

// GELU(x) (gelu_kernel.h) quantized for strip_product, in one node.
ggml_tensor *strip_input_gelu(ggml_context *ctx, ggml_tensor *x);

// strips . x for the quantized x of strip_input: [rows, n] F32, as ggml_mul_mat(weight, x), plus
// `residual` ([rows, n] F32; nullptr: none) in the same node, on the kernels of `level` (one this
// CPU runs). A residual may have more rows than x: those pass as they are (rows whose input is
// known to be 0, not computed), and the product has the residual's rows.
ggml_tensor *strip_product(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, ggml_tensor *residual = nullptr,
                           CpuKernels level = cpu_kernels());

// GELU(strips . x) (gelu_kernel.h) for the quantized x of strip_input, quantized for the next
// strip_product, in one node; for strips whose rows are a multiple of 256 (strip_product_gelu_fits).
bool strip_product_gelu_fits(const ggml_tensor *strips);
ggml_tensor *strip_product_gelu(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, CpuKernels level = cpu_kernels());

// The most weights strip_products takes (a GGML node's sources, the input one of them).
constexpr int kMaxStripWeights = GGML_MAX_SRC - 1;

// The products strips[i] . x of one quantized x with several weights (up to kMaxStripWeights),
// in one node: views [rows_i, n] F32 (contiguous) of its output, each as strip_product's.
std::vector<ggml_tensor *> strip_products(ggml_context *ctx, const std::vector<ggml_tensor *> &strips, ggml_tensor *quantized_x,
                                          CpuKernels level = cpu_kernels());

} // namespace lofi
