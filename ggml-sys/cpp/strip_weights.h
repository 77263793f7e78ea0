// The decoder-step weights that fit the strip layout (strip_layout.h), laid out once at load in
// one CPU buffer, and the products of a decode step's inputs with them.
#pragma once

#include <functional>
#include <unordered_map>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"

namespace lofi {

class StripWeights {
  public:
    StripWeights() = default;
    StripWeights(const StripWeights &) = delete;
    StripWeights &operator=(const StripWeights &) = delete;
    ~StripWeights();

    // Lays out those of `weights` that fit, read from source(weight), in a buffer of `buft`,
    // calling read(weight) after each (the source's memory can go: the peak stays one weight
    // above the strips); the others are left to the caller. False when that buffer cannot be
    // allocated.
    bool lay_out(const std::vector<ggml_tensor *> &weights, const std::function<const void *(const ggml_tensor *)> &source,
                 const std::function<void(const ggml_tensor *)> &read, ggml_backend_buffer_type_t buft);

    // The strips of `weight`, or nullptr when it was not laid out.
    ggml_tensor *of(const ggml_tensor *weight) const;

  private:
    ggml_context *ctx_ = nullptr;
    ggml_backend_buffer_t buffer_ = nullptr;
    std::unordered_map<const ggml_tensor *, ggml_tensor *> strips_;
};

// A layer norm over each row: (x - mean) / sqrt(variance + epsilon) * w + b. `epsilon` is read
// when the graph computes.
struct LayerNorm {
    ggml_tensor *w, *b;
    const float *epsilon;
};

// GELU (the erf form) of each value.
struct Gelu {};

// The products of one input x ([inputs, n]), or of its layer norm or GELU, with weights:
// ggml_mul_mat, or for a weight laid out in strips the strip product of the input quantized
// once for all of them (the norm or GELU in the same node).
class InputProducts {
  public:
    InputProducts(ggml_context *ctx, const StripWeights &strips, ggml_tensor *x) : ctx_(ctx), strips_(strips), x_(x) {}
    InputProducts(ggml_context *ctx, const StripWeights &strips, ggml_tensor *x, LayerNorm norm)
        : ctx_(ctx), strips_(strips), x_(x), norm_(norm) {}
    InputProducts(ggml_context *ctx, const StripWeights &strips, ggml_tensor *x, Gelu) : ctx_(ctx), strips_(strips), x_(x), gelu_(true) {}

    // weight . input, [rows, n].
    ggml_tensor *times(ggml_tensor *weight);
    // weights[i] . input for each weight: one node on the strips when all of them have strips.
    std::vector<ggml_tensor *> times_each(const std::vector<ggml_tensor *> &weights);
    // residual + weight . input (a residual connection), in the product's node on the strips. The
    // residual may have more rows than the input: those pass as they are (strip_product).
    ggml_tensor *times_plus(ggml_tensor *weight, ggml_tensor *residual);
    // residual + down . GELU(up . input) (a feed-forward block): on the strips of both, GELU and
    // the quantization for down's product in up's product node.
    ggml_tensor *feed_forward_plus(ggml_tensor *up, ggml_tensor *down, ggml_tensor *residual);

  private:
    // The input in F32 (through GGML's ops when normed or activated), made once.
    ggml_tensor *input();
    // The input quantized for the strips, made once.
    ggml_tensor *quantized();

    ggml_context *ctx_;
    const StripWeights &strips_;
    ggml_tensor *x_;
    LayerNorm norm_ = {nullptr, nullptr, nullptr};
    bool gelu_ = false;
    ggml_tensor *prepared_ = nullptr, *quantized_ = nullptr;
};

} // namespace lofi
