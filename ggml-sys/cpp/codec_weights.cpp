#include "codec_weights.h"

#include <cstdint>

namespace lofi {

namespace {

// Tensors a stream's EnCodec can hold: one per convolution (musicgen-small's has 16).
constexpr size_t kMaxWeights = 64;

} // namespace

CodecWeights::CodecWeights(const MusicgenModel &m) : model_(m) {
    ggml_init_params params = {kMaxWeights * ggml_tensor_overhead(), nullptr, /*no_alloc =*/true};
    ctx_ = ggml_init(params);
}

CodecWeights::~CodecWeights() {
    for (ggml_backend_buffer_t buffer : buffers_) {
        ggml_backend_buffer_free(buffer);
    }
    ggml_free(ctx_);
}

template <typename Index>
ggml_tensor *CodecWeights::made(ggml_context *ctx, ggml_tensor *weight, int64_t ne0, int64_t ne1, Index index,
                                ggml_tensor *(*in_graph)(ggml_context *, ggml_tensor *)) {
    if (auto found = made_.find(weight); found != made_.end()) {
        return found->second;
    }
    // Elements are moved whole, so the layout keeps the weight's type (F32, or F16 in a quantized file).
    const size_t element = ggml_element_size(weight);
    ggml_backend_buffer_t buffer = ggml_backend_buft_alloc_buffer(ggml_backend_buffer_get_type(weight->buffer), ggml_nbytes(weight));
    if (buffer == nullptr) {
        return in_graph(ctx, weight);
    }
    ggml_tensor *laid_out = ggml_new_tensor_2d(ctx_, weight->type, ne0, ne1);
    ggml_backend_tensor_alloc(buffer, laid_out, ggml_backend_buffer_get_base(buffer));
    // In place where both are in host memory (the CPU's: the mapped file and the new buffer),
    // through copies otherwise; the copies of the largest weight (musicgen-small's first
    // transposed convolution, 16.8 MB) were a stream's peak memory as it started.
    std::vector<uint8_t> original_copy, moved_copy;
    const bool host_original = ggml_backend_buffer_is_host(weight->buffer), host_laid_out = ggml_backend_buffer_is_host(buffer);
    if (!host_original) {
        original_copy.resize(ggml_nbytes(weight));
        ggml_backend_tensor_get(weight, original_copy.data(), 0, original_copy.size());
    }
    if (!host_laid_out) {
        moved_copy.resize(ggml_nbytes(laid_out));
    }
    const void *original = host_original ? weight->data : original_copy.data();
    void *moved = host_laid_out ? laid_out->data : moved_copy.data();
    const int64_t n0 = weight->ne[0], n1 = weight->ne[1], n2 = weight->ne[2];
    auto move_all = [&](auto *to, const auto *from) {
        for (int64_t k2 = 0; k2 < n2; k2++) {
            for (int64_t k1 = 0; k1 < n1; k1++) {
                for (int64_t k0 = 0; k0 < n0; k0++) {
                    to[index(k0, k1, k2)] = from[(k2 * n1 + k1) * n0 + k0];
                }
            }
        }
    };
    if (element == sizeof(uint16_t)) {
        move_all(static_cast<uint16_t *>(moved), static_cast<const uint16_t *>(original));
    } else {
        move_all(static_cast<uint32_t *>(moved), static_cast<const uint32_t *>(original));
    }
    release_mapped_weight(model_, weight);
    if (!host_laid_out) {
        ggml_backend_tensor_set(laid_out, moved_copy.data(), 0, moved_copy.size());
    }
    buffers_.push_back(buffer);
    return made_[weight] = laid_out;
}

ggml_tensor *CodecWeights::conv_taps(ggml_context *ctx, ggml_tensor *weight) {
    const int64_t kernel = weight->ne[0], in = weight->ne[1], out = weight->ne[2];
    auto in_graph = [](ggml_context *c, ggml_tensor *w) { // [kernel, in, out] -> [in, out, kernel]
        return ggml_reshape_2d(c, ggml_cont(c, ggml_permute(c, w, 2, 0, 1, 3)), w->ne[1], w->ne[2] * w->ne[0]);
    };
    return made(ctx, weight, in, out * kernel, [=](int64_t k, int64_t i, int64_t o) { return (k * out + o) * in + i; }, in_graph);
}

ggml_tensor *CodecWeights::transposed_taps(ggml_context *ctx, ggml_tensor *weight) {
    const int64_t s = weight->ne[0] / 2, out = weight->ne[1], in = weight->ne[2];
    auto in_graph = [](ggml_context *c, ggml_tensor *w) { // [(phase, half), out, in] -> [in, half, out, phase]
        const int64_t stride = w->ne[0] / 2;
        ggml_tensor *split = ggml_reshape_4d(c, w, stride, 2, w->ne[1], w->ne[2]);
        return ggml_reshape_2d(c, ggml_cont(c, ggml_permute(c, split, 3, 1, 2, 0)), 2 * w->ne[2], w->ne[1] * stride);
    };
    return made(ctx, weight, 2 * in, out * s,
                [=](int64_t tap, int64_t o, int64_t i) {
                    const int64_t h = tap / s, p = tap % s;
                    return (p * out + o) * 2 * in + h * in + i;
                },
                in_graph);
}

} // namespace lofi
