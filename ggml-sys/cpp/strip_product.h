// Products with weights laid out in strips (strip_layout.h): a GGML node that quantizes the
// input rows as Q4_K products take them (int8 with one scale per 256 and the sums of each 32,
// GGML's Q8_K), and a node that multiplies them by the strips, on our own CPU kernels (AVX2 or
// portable, cpu_features.h). One quantized input serves every product of that input.
#pragma once

#include <cstdint>

#include "cpu_features.h"
#include "ggml.h"

namespace lofi {

// The strips of a weight with `rows` output rows and `inputs` inputs as a GGML tensor (bytes, in
// the layout of strip_layout.h), created in ctx without data.
ggml_tensor *new_strip_tensor(ggml_context *ctx, int64_t inputs, int64_t rows);

// x [inputs, n] F32 (inputs a multiple of 256) quantized for strip_product.
ggml_tensor *strip_input(ggml_context *ctx, ggml_tensor *x);

// strips . x for the quantized x of strip_input: [rows, n] F32, as ggml_mul_mat(weight, x), on
// the kernels of `level` (one this CPU runs).
ggml_tensor *strip_product(ggml_context *ctx, ggml_tensor *strips, ggml_tensor *quantized_x, CpuKernels level = cpu_kernels());

} // namespace lofi
