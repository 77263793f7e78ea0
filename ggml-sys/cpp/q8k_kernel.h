// The strips' input quantizer (GGML's Q8_K, as quantize_row_q8_K) on the CPU, vectorised: the
// scalar one rounded each of a step's ~440 000 inputs apart (~2 % of a generation). Chosen at
// run time like the other kernels (cpu_features.h); both give the same bytes.
#pragma once

#include <cstdint>

namespace lofi {

// Values in a Q8_K superblock, and in each of its sums.
constexpr int64_t kQ8kValues = 256, kQ8kSumValues = 16;

// x[256] as int8 q with the element of largest magnitude at -127 or 127, its scale
// (largest / 127), and the sum of each 16 of q.
void quantize_q8k(const float *x, int8_t *q, float &scale, int32_t *sums);

} // namespace lofi
