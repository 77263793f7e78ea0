#include "weight_copies.h"

namespace lofi {

ggml_backend_buffer_t copy_weights(ggml_backend_buffer_type_t buft, const std::vector<ggml_tensor *> &weights,
                                   const std::function<const void *(const ggml_tensor *)> &source) {
    const size_t align = ggml_backend_buft_get_alignment(buft);
    auto padded_size = [&](const ggml_tensor *w) { return GGML_PAD(ggml_backend_buft_get_alloc_size(buft, w), align); };
    size_t size = 0;
    for (const ggml_tensor *weight : weights) {
        size += padded_size(weight);
    }
    ggml_backend_buffer_t buffer = ggml_backend_buft_alloc_buffer(buft, size);
    if (buffer == nullptr) {
        return nullptr;
    }
    ggml_backend_buffer_set_usage(buffer, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    auto *next = static_cast<char *>(ggml_backend_buffer_get_base(buffer));
    for (ggml_tensor *weight : weights) {
        ggml_backend_tensor_alloc(buffer, weight, next);
        ggml_backend_tensor_set(weight, source(weight), 0, ggml_nbytes(weight));
        next += padded_size(weight);
    }
    return buffer;
}

} // namespace lofi
