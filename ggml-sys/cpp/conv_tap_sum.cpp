#include "conv_tap_sum.h"

#include <algorithm>

namespace lofi {
namespace {

// The op's four numbers packed into its userdata pointer, 16 bits each.
struct TapGeometry {
    int64_t kernel, dilation, left, right;

    void *packed() const {
        const uint64_t bits = static_cast<uint64_t>(kernel) | static_cast<uint64_t>(dilation) << 16 |
                              static_cast<uint64_t>(left) << 32 | static_cast<uint64_t>(right) << 48;
        return reinterpret_cast<void *>(static_cast<uintptr_t>(bits));
    }
    static TapGeometry unpacked(void *userdata) {
        const uint64_t bits = reinterpret_cast<uintptr_t>(userdata);
        auto field = [&](int i) { return static_cast<int64_t>(bits >> (16 * i) & 0xFFFF); };
        return {field(0), field(1), field(2), field(3)};
    }
};

// src: taps, bias. Threads share the output steps.
void tap_sum_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const TapGeometry g = TapGeometry::unpacked(userdata);
    const ggml_tensor *taps = dst->src[0];
    const auto *bias = static_cast<const float *>(dst->src[1]->data);
    const int64_t out = dst->ne[0], length = dst->ne[1];
    const int64_t extended = length + reflect_pad_extension(length, g.left, g.right);
    const int64_t begin = length * ith / nth, end = length * (ith + 1) / nth;
    for (int64_t t = begin; t < end; t++) {
        auto *y = reinterpret_cast<float *>(static_cast<char *>(dst->data) + t * dst->nb[1]);
        std::fill_n(y, out, 0.0f);
        for (int64_t k = 0; k < g.kernel; k++) {
            int64_t step = t + k * g.dilation - g.left;
            if (step < 0) {
                step = -step;
            } else if (step >= extended) {
                step = 2 * (extended - 1) - step;
            }
            if (step >= length) {
                continue; // a zero of the extension
            }
            const auto *tap = reinterpret_cast<const float *>(static_cast<const char *>(taps->data) + step * taps->nb[1]) + k * out;
            for (int64_t o = 0; o < out; o++) {
                y[o] += tap[o];
            }
        }
        for (int64_t o = 0; o < out; o++) { // the bias last, as GGML's ops added it
            y[o] += bias[o];
        }
    }
}

} // namespace

int64_t reflect_pad_extension(int64_t length, int64_t left, int64_t right) {
    return std::max<int64_t>(0, std::max(left, right) - length + 1);
}

bool tap_geometry_fits(int64_t kernel, int64_t dilation, int64_t left, int64_t right) {
    auto in_field = [](int64_t value) { return value >= 0 && value <= 0xFFFF; };
    return kernel >= 1 && kernel < 256 && dilation >= 1 && in_field(dilation) && in_field(left) && in_field(right);
}

ggml_tensor *conv_tap_sum(ggml_context *ctx, ggml_tensor *taps, ggml_tensor *bias, int64_t kernel, int64_t dilation, int64_t left,
                          int64_t right) {
    GGML_ASSERT(tap_geometry_fits(kernel, dilation, left, right));
    ggml_tensor *args[2] = {taps, bias};
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_F32, taps->ne[0] / kernel, taps->ne[1], 1, 1, args, 2, tap_sum_op,
                                        GGML_N_TASKS_MAX, TapGeometry{kernel, dilation, left, right}.packed()),
                         "tap sum");
}

} // namespace lofi
