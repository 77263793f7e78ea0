// Weights copied out of the mapped file into a buffer of another type: GGML's repacked CPU
// layout, or an accelerator's memory.
#pragma once

#include <functional>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"

namespace lofi {

// Allocates one buffer of `buft` for `weights`, places each there and fills it from
// source(weight) (the buffer type converts, e.g. repacks, as it stores); nullptr when the
// allocation fails.
ggml_backend_buffer_t copy_weights(ggml_backend_buffer_type_t buft, const std::vector<ggml_tensor *> &weights,
                                   const std::function<const void *(const ggml_tensor *)> &source);

} // namespace lofi
