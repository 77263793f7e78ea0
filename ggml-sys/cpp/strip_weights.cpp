#include "strip_weights.h"

#include <algorithm>

#include "huge_pages.h"
#include "strip_layout.h"
#include "strip_product.h"

namespace lofi {

StripWeights::~StripWeights() {
    if (buffer_ != nullptr) {
        ggml_backend_buffer_free(buffer_);
    }
    if (ctx_ != nullptr) {
        ggml_free(ctx_);
    }
}

bool StripWeights::lay_out(const std::vector<ggml_tensor *> &weights,
                           const std::function<const void *(const ggml_tensor *)> &source,
                           const std::function<void(const ggml_tensor *)> &read, ggml_backend_buffer_type_t buft) {
    std::vector<std::pair<ggml_tensor *, StripFormat>> fitting;
    for (ggml_tensor *weight : weights) {
        StripFormat format;
        if (weight != nullptr && ggml_n_dims(weight) == 2 && strip_format_for(weight->type, weight->ne[0], weight->ne[1], format)) {
            fitting.emplace_back(weight, format);
        }
    }
    if (fitting.empty()) {
        return true;
    }
    ggml_init_params params = {ggml_tensor_overhead() * fitting.size(), nullptr, true};
    ctx_ = ggml_init(params);
    for (const auto &[weight, format] : fitting) {
        strips_[weight] = new_strip_tensor(ctx_, format, weight->ne[0], weight->ne[1]);
    }
    buffer_ = ggml_backend_alloc_ctx_tensors_from_buft(ctx_, buft);
    if (buffer_ == nullptr) {
        strips_.clear();
        return false;
    }
    ggml_backend_buffer_set_usage(buffer_, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    ask_for_huge_pages(buffer_);
    for (const auto &[weight, format] : fitting) {
        lay_out_strips(format, weight->ne[0], weight->ne[1], source(weight), strips_[weight]->data);
        read(weight);
    }
    return true;
}

ggml_tensor *StripWeights::of(const ggml_tensor *weight) const {
    const auto found = strips_.find(weight);
    return found == strips_.end() ? nullptr : found->second;
}

ggml_tensor *InputProducts::input() {
    if (prepared_ == nullptr) {
        if (norm_.w != nullptr) {
            prepared_ = ggml_add(ctx_, ggml_mul(ctx_, ggml_norm(ctx_, x_, *norm_.epsilon), norm_.w), norm_.b);
        } else {
            prepared_ = gelu_ ? ggml_gelu_erf(ctx_, x_) : x_;
        }
    }
    return prepared_;
}

ggml_tensor *InputProducts::quantized() {
    if (quantized_ == nullptr) {
        if (norm_.w != nullptr) {
            quantized_ = strip_input_normed(ctx_, x_, norm_.w, norm_.b, *norm_.epsilon);
        } else {
            quantized_ = gelu_ ? strip_input_gelu(ctx_, x_) : strip_input(ctx_, x_);
        }
    }
    return quantized_;
}

ggml_tensor *InputProducts::times(ggml_tensor *weight) {
    ggml_tensor *strips = strips_.of(weight);
    return strips == nullptr ? ggml_mul_mat(ctx_, weight, input()) : strip_product(ctx_, strips, quantized());
}

std::vector<ggml_tensor *> InputProducts::times_each(const std::vector<ggml_tensor *> &weights) {
    std::vector<ggml_tensor *> strips;
    for (ggml_tensor *weight : weights) {
        strips.push_back(strips_.of(weight));
    }
    if (std::find(strips.begin(), strips.end(), nullptr) == strips.end()) {
        return strip_products(ctx_, strips, quantized());
    }
    std::vector<ggml_tensor *> products;
    for (ggml_tensor *weight : weights) {
        products.push_back(times(weight));
    }
    return products;
}

ggml_tensor *InputProducts::feed_forward_plus(ggml_tensor *up, ggml_tensor *down, ggml_tensor *residual) {
    ggml_tensor *up_strips = strips_.of(up), *down_strips = strips_.of(down);
    if (up_strips != nullptr && down_strips != nullptr && strip_product_gelu_fits(up_strips)) {
        return strip_product(ctx_, down_strips, strip_product_gelu(ctx_, up_strips, quantized()), residual);
    }
    return InputProducts(ctx_, strips_, times(up), Gelu{}).times_plus(down, residual);
}

ggml_tensor *InputProducts::times_plus(ggml_tensor *weight, ggml_tensor *residual) {
    ggml_tensor *strips = strips_.of(weight);
    if (strips != nullptr) {
        return strip_product(ctx_, strips, quantized(), residual);
    }
    ggml_tensor *product = ggml_mul_mat(ctx_, weight, input());
    return product->ne[1] == residual->ne[1] ? ggml_add(ctx_, residual, product)
                                             : ggml_acc(ctx_, residual, product, residual->nb[1], residual->nb[2], residual->nb[3], 0);
}

} // namespace lofi
