// GGML's CPU backend has faster matrix-vector kernels for some weight types when their rows are
// interleaved in its own layout (the CPU_REPACK buffer type: Q4_0 and IQ4_NL in blocks of 8 rows
// on AVX2, among others). The decoder step's weights of those types are copied into that layout
// once at load (its Q4_K ones go to strips instead: strip_weights.h); all others stay mapped
// from the file.
#pragma once

#include <functional>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"

namespace lofi {

// Of `matmul_weights` (tensors only ever used as the first operand of ggml_mul_mat), places the
// ones the repack buffer type supports in a new buffer of that type, filled from source(tensor),
// and returns it; nullptr when none qualifies (or the CPU backend offers no repack type).
ggml_backend_buffer_t repack_weights(const std::vector<ggml_tensor *> &matmul_weights,
                                     const std::function<const void *(const ggml_tensor *)> &source);

} // namespace lofi
