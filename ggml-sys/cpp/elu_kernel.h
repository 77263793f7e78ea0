// EnCodec's ELU on the CPU, vectorised: GGML's own computes a scalar expm1f per negative input.
// Chosen at run time like the attention kernels (cpu_features.h).
#pragma once

#include "ggml.h"

namespace lofi {

// ELU(x) (alpha 1): our kernel when the graph computes on the CPU, GGML's op otherwise (F32).
// `type` F16: our kernel's result in F16, for a product with an F16 weight, which would convert
// an F32 input to F16 in its work buffer (the same rounding: half the bytes, no copy).
ggml_tensor *elu(ggml_context *ctx, ggml_tensor *x, bool cpu_kernels, ggml_type type = GGML_TYPE_F32);

// The kernel itself over n values: y = ELU(x).
void elu_values(const float *x, float *y, int64_t n);

// y = ELU(x) in `type`: F16 (rounded as GGML rounds to F16) or F32.
void elu_values_as(const float *x, void *y, int64_t n, ggml_type type);

// Whether a node of our own computes ELU of x (the graph computes on the CPU, x is F32 with
// contiguous rows), and the type it writes for a wanted `type` (F16 for F16, F32 otherwise):
// elu() and the nodes that fold ELU into their own work (the transposed convolutions' input).
bool elu_kernel_applies(const ggml_tensor *x, bool cpu_kernels);
ggml_type elu_kernel_type(ggml_type type);

} // namespace lofi
