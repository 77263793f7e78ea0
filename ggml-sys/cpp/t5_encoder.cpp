#include "t5_encoder.h"

#include <algorithm>
#include <cmath>

namespace lofi {

int32_t t5_relative_bucket(int32_t relative, uint32_t buckets, uint32_t max_distance) {
    // transformers' T5Attention._relative_position_bucket, bidirectional.
    const int32_t half = static_cast<int32_t>(buckets / 2);
    int32_t bucket = relative > 0 ? half : 0;
    const int32_t distance = std::abs(relative);
    const int32_t max_exact = half / 2;
    if (distance < max_exact) {
        return bucket + distance;
    }
    // Same float32 steps as torch: log(d / max_exact) / log(max_distance / max_exact) (a double constant) * n.
    const float log_ratio = static_cast<float>(std::log(static_cast<double>(max_distance) / max_exact));
    const float scaled = std::log(static_cast<float>(distance) / static_cast<float>(max_exact)) / log_ratio * static_cast<float>(half - max_exact);
    return bucket + std::min(max_exact + static_cast<int32_t>(scaled), half - 1);
}

namespace {

ggml_tensor *rms_norm(ggml_context *ctx, ggml_tensor *x, ggml_tensor *weight, float eps) {
    return ggml_mul(ctx, ggml_rms_norm(ctx, x, eps), weight);
}

// Self-attention without scaling (T5 folds it into the weights), plus the shared position bias.
ggml_tensor *attention(ggml_context *ctx, const T5Layer &layer, const T5Hparams &hp, ggml_tensor *x, ggml_tensor *bias, int64_t n) {
    const int64_t dh = hp.key_length, heads = hp.heads;
    ggml_tensor *q = ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, layer.q, x), dh, heads, n), 0, 2, 1, 3);
    ggml_tensor *k = ggml_permute(ctx, ggml_reshape_3d(ctx, ggml_mul_mat(ctx, layer.k, x), dh, heads, n), 0, 2, 1, 3);
    ggml_tensor *v = ggml_reshape_3d(ctx, ggml_mul_mat(ctx, layer.v, x), dh, heads, n);
    ggml_tensor *scores = ggml_add(ctx, ggml_mul_mat(ctx, k, q), bias); // [keys, queries, heads]
    ggml_tensor *weights = ggml_soft_max(ctx, scores);
    ggml_tensor *v_t = ggml_cont(ctx, ggml_permute(ctx, v, 1, 2, 0, 3)); // [keys, dh, heads]
    ggml_tensor *out = ggml_mul_mat(ctx, v_t, weights);                // [dh, queries, heads]
    out = ggml_cont(ctx, ggml_permute(ctx, out, 0, 2, 1, 3));
    return ggml_mul_mat(ctx, layer.o, ggml_reshape_2d(ctx, out, dh * heads, n));
}

ggml_tensor *feed_forward(ggml_context *ctx, const T5Layer &layer, ggml_tensor *x) {
    ggml_tensor *up = ggml_mul_mat(ctx, layer.up, x);
    ggml_tensor *hidden = layer.gate != nullptr ? ggml_mul(ctx, ggml_gelu(ctx, ggml_mul_mat(ctx, layer.gate, x)), up) : ggml_relu(ctx, up);
    return ggml_mul_mat(ctx, layer.down, hidden);
}

} // namespace

bool t5_encode(const MusicgenModel &m, GraphRunner &runner, const std::vector<int32_t> &ids, std::vector<float> &out) {
    const T5Hparams &hp = m.hp.t5;
    const int64_t n = static_cast<int64_t>(ids.size());
    std::vector<int32_t> buckets(n * n);
    for (int64_t q = 0; q < n; q++) {
        for (int64_t k = 0; k < n; k++) {
            buckets[q * n + k] = t5_relative_bucket(static_cast<int32_t>(k - q), hp.buckets, hp.max_distance);
        }
    }
    ggml_tensor *ids_in = nullptr, *buckets_in = nullptr, *result = nullptr;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        ids_in = graph_input(ctx, GGML_TYPE_I32, n);
        buckets_in = graph_input(ctx, GGML_TYPE_I32, n * n);
        // Position bias, computed once and shared by every block: [keys, queries, heads].
        ggml_tensor *bias = ggml_reshape_3d(ctx, ggml_get_rows(ctx, m.t5_rel_bias, buckets_in), hp.heads, n, n);
        bias = ggml_cont(ctx, ggml_permute(ctx, bias, 2, 0, 1, 3));
        ggml_tensor *x = ggml_get_rows(ctx, m.t5_embd, ids_in);
        for (const T5Layer &layer : m.t5) {
            x = ggml_add(ctx, x, attention(ctx, layer, hp, rms_norm(ctx, x, layer.attn_norm, hp.rms_epsilon), bias, n));
            x = ggml_add(ctx, x, feed_forward(ctx, layer, rms_norm(ctx, x, layer.ffn_norm, hp.rms_epsilon)));
        }
        result = rms_norm(ctx, x, m.t5_out_norm, hp.rms_epsilon);
        ggml_set_output(result);
        ggml_build_forward_expand(graph, result);
    };
    auto inputs = [&] {
        ggml_backend_tensor_set(ids_in, ids.data(), 0, ggml_nbytes(ids_in));
        ggml_backend_tensor_set(buckets_in, buckets.data(), 0, ggml_nbytes(buckets_in));
    };
    if (!runner.run(build, inputs)) {
        return false;
    }
    out.resize(static_cast<size_t>(hp.width * n));
    ggml_backend_tensor_get(result, out.data(), 0, ggml_nbytes(result));
    return true;
}

} // namespace lofi
