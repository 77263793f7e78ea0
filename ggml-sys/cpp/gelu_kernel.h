// The decoder's GELU (the erf form, as transformers' "gelu" and GGML's gelu_erf) on the CPU,
// vectorised: GGML's computes a scalar erff per value (~2 % of a generation). Chosen at run time
// like the attention kernels (cpu_features.h).
#pragma once

#include <cstdint>

namespace lofi {

// y = x / 2 * (1 + erf(x / sqrt(2))) over n values.
void gelu_values(const float *x, float *y, int64_t n);

} // namespace lofi
