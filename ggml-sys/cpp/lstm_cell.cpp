#include "lstm_cell.h"

#include <cmath>

namespace lofi {
namespace {

float sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

// src: the run, the input gates, the recurrent gates; userdata: the step. Threads share the
// channels.
void step_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const int64_t channels = dst->ne[0], steps = dst->ne[1] - 2, t = reinterpret_cast<intptr_t>(userdata);
    const auto *x = static_cast<const float *>(dst->src[1]->data), *r = static_cast<const float *>(dst->src[2]->data);
    auto column = [&](int64_t i) { return reinterpret_cast<float *>(static_cast<char *>(dst->data) + i * dst->nb[1]); };
    float *h = column(t + 1), *cell = column(steps + 1);
    const int64_t begin = channels * ith / nth, end = channels * (ith + 1) / nth;
    for (int64_t j = begin; j < end; j++) {
        const float in = sigmoid(x[j] + r[j]), forget = sigmoid(x[channels + j] + r[channels + j]);
        const float candidate = std::tanh(x[2 * channels + j] + r[2 * channels + j]);
        const float out = sigmoid(x[3 * channels + j] + r[3 * channels + j]);
        cell[j] = forget * cell[j] + in * candidate;
        h[j] = out * std::tanh(cell[j]);
    }
}

} // namespace

ggml_tensor *lstm_step(ggml_context *ctx, ggml_tensor *run, ggml_tensor *input_gates, ggml_tensor *recurrent, int64_t t) {
    ggml_tensor *args[2] = {input_gates, recurrent};
    return ggml_set_name(ggml_custom_inplace(ctx, run, args, 2, step_op, GGML_N_TASKS_MAX, reinterpret_cast<void *>(static_cast<intptr_t>(t))),
                         "lstm step");
}

} // namespace lofi
