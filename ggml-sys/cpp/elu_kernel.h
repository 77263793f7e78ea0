// EnCodec's ELU on the CPU, vectorised: GGML's own computes a scalar expm1f per negative input.
// Chosen at run time like the attention kernels (cpu_features.h).
#pragma once

#include "ggml.h"

namespace lofi {

// ELU(x) (alpha 1): our kernel when the graph computes on the CPU, GGML's op otherwise.
ggml_tensor *elu(ggml_context *ctx, ggml_tensor *x, bool cpu_kernels);

// The kernel itself over n values: y = ELU(x).
void elu_values(const float *x, float *y, int64_t n);

} // namespace lofi
