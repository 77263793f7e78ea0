// The output of a non-causal convolution from its taps' products in one GGML node, where reflect
// padding (a concat per padded step, two copies of the input) and a sum of shifted views (an add
// per tap, then the bias) took ~kernel + 4 nodes over the whole signal.
#pragma once

#include <cstdint>

#include "ggml.h"

namespace lofi {

// The zeros transformers' _pad1d appends to an input of `length` steps before reflecting it by
// `left` and `right` (an input not longer than the padding cannot be reflected as it is).
int64_t reflect_pad_extension(int64_t length, int64_t left, int64_t right);

// Whether conv_tap_sum takes these: a kernel of 1-255 steps, a dilation of at least 1, all
// within 16 bits (they travel packed in its userdata).
bool tap_geometry_fits(int64_t kernel, int64_t dilation, int64_t left, int64_t right);

// taps: [out * kernel, length] F32, row k * out + o tap k's contribution to output channel o
// from each step of the unpadded input; bias: [out] F32. Returns [out, length]:
// y[o, t] = bias[o] + sum over k of taps[k * out + o, step(t + k * dilation)], where step(p) is
// the input step at position p of the input padded by `left` and `right` as transformers'
// EncodecConv1d._pad1d pads (reflected, after zero-extending an input not longer than the
// padding): a product is linear in its input column, so padding the products is padding the
// input. The numbers must fit (tap_geometry_fits).
ggml_tensor *conv_tap_sum(ggml_context *ctx, ggml_tensor *taps, ggml_tensor *bias, int64_t kernel, int64_t dilation, int64_t left,
                          int64_t right);

} // namespace lofi
