// The CPU kernels of the products with weights in strips (strip_layout.h): per format, a
// portable, an AVX2, an AVX-VNNI (Q5_K and Q8_0: AVX2's) and an AVX512-VNNI version, chosen by level
// (cpu_features.h).
#pragma once

#include <cstdint>

#include "cpu_features.h"
#include "strip_layout.h"

namespace lofi {

// Inputs per sum of a quantized row (Q6_K's scales cover 16 inputs, Q4_K's mins 32: two sums).
constexpr int64_t kStripSumInputs = 16;

// One input row quantized as the K-quant products take it (GGML's Q8_K): int8 values, one scale
// per superblock, and the sum of each 16 values.
struct QuantizedRow {
    const int8_t *q;
    const float *d;
    const int32_t *sums;
};

// Strips [begin, end) of a weight of `superblocks` superblocks per row, times n_rows (1 or 2)
// quantized rows: out[r][strip * 16 + i].
using StripKernel = void (*)(const void *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                             int n_rows, float *const *out);

// The kernel of that format and level (one this CPU runs).
StripKernel strip_kernel(StripFormat format, CpuKernels level);

} // namespace lofi
