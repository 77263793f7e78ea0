#include "musicgen_decoder.h"

#include <cmath>

namespace lofi {

DecoderState::~DecoderState() {
    if (buffer != nullptr) {
        ggml_backend_buffer_free(buffer);
    }
    if (ctx != nullptr) {
        ggml_free(ctx);
    }
}

namespace {

constexpr int64_t kBatch = 2; // classifier-free guidance: conditioned and null

ggml_tensor *layer_norm(ggml_context *ctx, ggml_tensor *x, ggml_tensor *w, ggml_tensor *b, float eps) {
    return ggml_add(ctx, ggml_mul(ctx, ggml_norm(ctx, x, eps), w), b);
}

// Scaled dot-product attention of one query per batch item over the first `positions` entries of
// a key and a value cache laid out [width, batch, capacity] (both batch items of a position side
// by side, so a step appends one contiguous block), with GGML's flash attention: no score
// matrix, and quantized caches are read by integer dot products.
ggml_tensor *attend(ggml_context *ctx, ggml_tensor *q, ggml_tensor *k_cache, ggml_tensor *v_cache, int64_t positions, int64_t dh,
                    int64_t heads) {
    auto heads_view = [&](ggml_tensor *cache) { // [dh, positions, heads, batch]
        return ggml_view_4d(ctx, cache, dh, positions, heads, kBatch, cache->nb[2], ggml_row_size(cache->type, dh), cache->nb[1], 0);
    };
    ggml_tensor *queries = ggml_permute(ctx, ggml_reshape_4d(ctx, q, dh, heads, 1, kBatch), 0, 2, 1, 3); // [dh, 1, heads, 2]
    ggml_tensor *out = ggml_flash_attn_ext(ctx, queries, heads_view(k_cache), heads_view(v_cache), nullptr,
                                           1.0f / std::sqrt(float(dh)), 0.0f, 0.0f); // [dh, heads, 1, 2]
    ggml_prec_set_acc(out, GGML_PREC_F32);
    return ggml_reshape_2d(ctx, out, dh * heads, kBatch);
}

// MusicGen's sinusoidal position embedding: [cos | sin] of position / 10000^(i / (half - 1)).
std::vector<float> sinusoid(int64_t position, int64_t width) {
    const int64_t half = width / 2;
    std::vector<float> out(width, 0.0f);
    const float step = static_cast<float>(std::log(10000.0) / static_cast<double>(half - 1)); // as torch: a double constant
    for (int64_t i = 0; i < half; i++) {
        const float angle = static_cast<float>(position) * std::exp(static_cast<float>(i) * -step);
        out[i] = std::cos(angle);
        out[half + i] = std::sin(angle);
    }
    return out;
}

} // namespace

bool decoder_start(const MusicgenModel &m, GraphRunner &runner, const std::vector<float> &t5_hidden, int64_t tokens,
                   int64_t max_steps, DecoderState &state) {
    const DecoderHparams &hp = m.hp.decoder;
    const size_t tensors = 4 * hp.layers;
    ggml_init_params params = {ggml_tensor_overhead() * tensors, nullptr, true};
    state.ctx = ggml_init(params);
    // Attention reads the whole self-attention cache every step, so its size sets the step time
    // late in a track: F16 halves it (Q8_0 was measured slower: GGML's flash attention
    // dequantizes its values one position at a time); only an F32 model (the parity reference)
    // keeps F32.
    const ggml_type cache_type = m.dec[0].q->type == GGML_TYPE_F32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
    for (uint32_t i = 0; i < hp.layers; i++) {
        state.k.push_back(ggml_new_tensor_3d(state.ctx, cache_type, hp.width, kBatch, max_steps));
        state.v.push_back(ggml_new_tensor_3d(state.ctx, cache_type, hp.width, kBatch, max_steps));
        state.cross_k.push_back(ggml_new_tensor_3d(state.ctx, GGML_TYPE_F32, hp.width, kBatch, tokens));
        state.cross_v.push_back(ggml_new_tensor_3d(state.ctx, GGML_TYPE_F32, hp.width, kBatch, tokens));
    }
    state.buffer = ggml_backend_alloc_ctx_tensors(state.ctx, m.main_backend());
    if (state.buffer == nullptr) {
        return false;
    }
    ggml_backend_buffer_clear(state.buffer, 0); // the null branch's cross-attention K/V are zero
    state.prompt_tokens = tokens;
    state.max_steps = max_steps;
    state.n_past = 0;

    ggml_tensor *hidden_in = nullptr;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        hidden_in = graph_input(ctx, GGML_TYPE_F32, m.hp.t5.width, tokens);
        // enc_to_dec_proj (times the attention mask, all ones for one unpadded prompt).
        ggml_tensor *states = ggml_add(ctx, ggml_mul_mat(ctx, m.proj_w, hidden_in), m.proj_b);
        for (uint32_t i = 0; i < hp.layers; i++) {
            // The conditioned half of each position; the null half stays zero.
            auto cond_half = [&](ggml_tensor *cache) { return ggml_view_2d(ctx, cache, hp.width, tokens, cache->nb[2], 0); };
            ggml_build_forward_expand(graph, ggml_cpy(ctx, ggml_mul_mat(ctx, m.dec[i].cross_k, states), cond_half(state.cross_k[i])));
            ggml_build_forward_expand(graph, ggml_cpy(ctx, ggml_mul_mat(ctx, m.dec[i].cross_v, states), cond_half(state.cross_v[i])));
        }
    };
    auto inputs = [&] { ggml_backend_tensor_set(hidden_in, t5_hidden.data(), 0, ggml_nbytes(hidden_in)); };
    return runner.run(build, inputs);
}

bool decoder_step(const MusicgenModel &m, GraphRunner &runner, DecoderState &state, const std::vector<int32_t> &codes,
                  std::vector<float> &logits) {
    const DecoderHparams &hp = m.hp.decoder;
    if (state.n_past >= state.max_steps) {
        return false;
    }
    const int64_t dh = hp.width / hp.heads, pos = state.n_past, n_kv = pos + 1;
    const std::vector<float> position = sinusoid(pos, hp.width);
    ggml_tensor *codes_in = nullptr, *position_in = nullptr;
    std::vector<ggml_tensor *> heads;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        codes_in = graph_input(ctx, GGML_TYPE_I32, hp.codebooks);
        position_in = graph_input(ctx, GGML_TYPE_F32, hp.width);
        ggml_tensor *x = position_in;
        for (uint32_t k = 0; k < hp.codebooks; k++) {
            ggml_tensor *code = ggml_view_1d(ctx, codes_in, 1, k * sizeof(int32_t));
            x = ggml_add(ctx, x, ggml_reshape_1d(ctx, ggml_get_rows(ctx, m.dec_embd[k], code), hp.width));
        }
        x = ggml_repeat(ctx, x, ggml_new_tensor_2d(ctx, GGML_TYPE_F32, hp.width, kBatch)); // both branches, same tokens
        for (uint32_t i = 0; i < hp.layers; i++) {
            const DecoderLayer &l = m.dec[i];
            ggml_tensor *h = layer_norm(ctx, x, l.attn_norm_w, l.attn_norm_b, hp.norm_epsilon);
            // This position's keys and values for both batch items: one contiguous block per cache.
            auto at_position = [&](ggml_tensor *cache) { return ggml_view_1d(ctx, cache, hp.width * kBatch, pos * cache->nb[2]); };
            ggml_build_forward_expand(graph, ggml_cpy(ctx, ggml_mul_mat(ctx, l.k, h), at_position(state.k[i])));
            ggml_build_forward_expand(graph, ggml_cpy(ctx, ggml_mul_mat(ctx, l.v, h), at_position(state.v[i])));
            ggml_tensor *attn = attend(ctx, ggml_mul_mat(ctx, l.q, h), state.k[i], state.v[i], n_kv, dh, hp.heads);
            x = ggml_add(ctx, x, ggml_mul_mat(ctx, l.o, attn));

            h = layer_norm(ctx, x, l.cross_norm_w, l.cross_norm_b, hp.norm_epsilon);
            attn = attend(ctx, ggml_mul_mat(ctx, l.cross_q, h), state.cross_k[i], state.cross_v[i], state.prompt_tokens, dh, hp.heads);
            x = ggml_add(ctx, x, ggml_mul_mat(ctx, l.cross_o, attn));

            h = layer_norm(ctx, x, l.ffn_norm_w, l.ffn_norm_b, hp.norm_epsilon);
            x = ggml_add(ctx, x, ggml_mul_mat(ctx, l.down, ggml_gelu_erf(ctx, ggml_mul_mat(ctx, l.up, h))));
        }
        x = layer_norm(ctx, x, m.dec_norm_w, m.dec_norm_b, hp.norm_epsilon);
        heads.clear();
        for (uint32_t k = 0; k < hp.codebooks; k++) {
            heads.push_back(ggml_mul_mat(ctx, m.dec_heads[k], x)); // [codebook_size, 2]
            ggml_set_output(heads.back());
            ggml_build_forward_expand(graph, heads.back());
        }
    };
    auto inputs = [&] {
        ggml_backend_tensor_set(codes_in, codes.data(), 0, ggml_nbytes(codes_in));
        ggml_backend_tensor_set(position_in, position.data(), 0, ggml_nbytes(position_in));
    };
    if (!runner.run(build, inputs)) {
        return false;
    }
    const int64_t card = hp.codebook_size;
    logits.resize(kBatch * hp.codebooks * card);
    std::vector<float> both(card * kBatch);
    for (uint32_t k = 0; k < hp.codebooks; k++) {
        ggml_backend_tensor_get(heads[k], both.data(), 0, ggml_nbytes(heads[k]));
        for (int64_t b = 0; b < kBatch; b++) {
            std::copy_n(both.data() + b * card, card, logits.data() + (b * hp.codebooks + k) * card);
        }
    }
    state.n_past++;
    return true;
}

} // namespace lofi
