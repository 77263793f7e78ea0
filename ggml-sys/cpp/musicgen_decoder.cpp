#include "musicgen_decoder.h"

#include <cmath>

#include "huge_pages.h"
#include "token_embeddings.h"

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

// residual + weight . x, through the weight's strips when it has them.
ggml_tensor *residual_plus(ggml_context *ctx, const MusicgenModel &m, ggml_tensor *residual, ggml_tensor *weight, ggml_tensor *x) {
    return InputProducts(ctx, m.strips, x).times_plus(weight, residual);
}

} // namespace

bool decoder_start(const MusicgenModel &m, GraphRunner &runner, const std::vector<float> &t5_hidden, int64_t tokens,
                   int64_t max_steps, int64_t branches, DecoderState &state) {
    const DecoderHparams &hp = m.hp.decoder;
    const int64_t dh = hp.width / hp.heads;
    const bool cpu = m.accelerator == nullptr;
    ggml_init_params params = {ggml_tensor_overhead() * 4 * hp.layers, nullptr, true};
    state.ctx = ggml_init(params);
    state.self.resize(hp.layers);
    state.cross.resize(tokens > 0 ? hp.layers : 0);
    // The cross caches: a prompt's positions, written once. F32, except on the CPU beside a self
    // cache that is not F32 (the parity reference's): F16, half the bytes, its key tiles as wide
    // as the prompt rounded up to 16 positions (KvLayout::key_columns). int8 keys there changed
    // the fixture's greedy tokens (1 prompt of 3 unchanged). On the CPU they hold the conditioned
    // branch's alone: the null branch's are zeros, its cross-attention not computed (decoder_step),
    // 9 MB less.
    const bool f16_cross = cpu && m.kv_type.key != KvElement::f32;
    const KvElement cross_element = f16_cross ? KvElement::f16 : KvElement::f32;
    const KvType cross_type{cross_element, cross_element};
    for (uint32_t i = 0; i < hp.layers; i++) {
        kv_cache_init(state.ctx, state.self[i], m.kv_type, cpu, dh, hp.heads, branches, max_steps, m.threads);
        if (tokens > 0) {
            kv_cache_init(state.ctx, state.cross[i], cross_type, cpu, dh, hp.heads, cpu ? 1 : branches, tokens, m.threads);
        }
    }
    state.buffer = ggml_backend_alloc_ctx_tensors(state.ctx, m.main_backend());
    if (state.buffer == nullptr) {
        return false;
    }
    ask_for_huge_pages(state.buffer); // the attention caches, read whole every step
    // The null branch's cross-attention K/V are zero where a cache holds them (an accelerator's);
    // the cross caches are zeroed whole, tiles' unused positions included. On the CPU the
    // self-attention cache is written before our kernels read it, position by position, so it is
    // left as it is (zeroing it touched all 120 MB of a 30 s track at the start, a peak beside the
    // weights the start's projections read; laid out tile by tile across heads, it is written
    // front to back and becomes resident as the track grows). An
    // accelerator's is zeroed whole: its memory is not the process's, and GGML's kernels there
    // are not ours to audit.
    if (cpu) {
        for (const KvCache &cross : state.cross) {
            ggml_backend_tensor_memset(cross.k, 0, 0, ggml_nbytes(cross.k));
            ggml_backend_tensor_memset(cross.v, 0, 0, ggml_nbytes(cross.v));
        }
    } else {
        ggml_backend_buffer_clear(state.buffer, 0);
    }
    state.max_steps = max_steps;
    state.branches = branches;
    state.n_past = 0;
    if (tokens == 0) {
        return true;
    }

    ggml_tensor *hidden_in = nullptr;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        hidden_in = graph_input(ctx, GGML_TYPE_F32, m.hp.t5.width, tokens);
        // enc_to_dec_proj (times the attention mask, all ones for one unpadded prompt).
        ggml_tensor *states = ggml_add(ctx, ggml_mul_mat(ctx, m.proj_w, hidden_in), m.proj_b);
        for (uint32_t i = 0; i < hp.layers; i++) {
            // The conditioned branch (the first); the null one stays zero.
            auto conditioned = [&](ggml_tensor *w) { return ggml_reshape_3d(ctx, ggml_mul_mat(ctx, w, states), hp.width, tokens, 1); };
            kv_write(ctx, graph, state.cross[i], conditioned(m.dec[i].cross_k), conditioned(m.dec[i].cross_v), 0);
        }
    };
    auto inputs = [&] { ggml_backend_tensor_set(hidden_in, t5_hidden.data(), 0, ggml_nbytes(hidden_in)); };
    const bool done = runner.run(build, inputs);
    release_decoder_start_pages(m);
    return done;
}

bool decoder_step(const MusicgenModel &m, GraphRunner &runner, DecoderState &state, const std::vector<int32_t> &codes,
                  std::vector<float> &logits, std::string &error) {
    const DecoderHparams &hp = m.hp.decoder;
    if (state.n_past >= state.max_steps) {
        error = "the decoder's cache is full";
        return false;
    }
    if (codes.size() < hp.codebooks) {
        error = "a code for each of the " + std::to_string(hp.codebooks) + " codebooks is needed";
        return false;
    }
    const int64_t pos = state.n_past, branches = state.branches;
    std::vector<float> embedded = sinusoid(pos, hp.width);
    if (!add_token_embeddings(m, codes.data(), embedded, error)) {
        return false;
    }
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        state.step_input = graph_input(ctx, GGML_TYPE_F32, hp.width);
        ggml_tensor *x = state.step_input;
        if (branches > 1) {
            x = ggml_repeat(ctx, x, ggml_new_tensor_2d(ctx, GGML_TYPE_F32, hp.width, branches)); // same tokens in each branch
        }
        for (uint32_t i = 0; i < hp.layers; i++) {
            const DecoderLayer &l = m.dec[i];
            const std::vector<ggml_tensor *> qkv =
                InputProducts(ctx, m.strips, x, {l.attn_norm_w, l.attn_norm_b, &hp.norm_epsilon}).times_each({l.q, l.k, l.v});
            auto this_position = [&](ggml_tensor *product) { return ggml_reshape_3d(ctx, product, hp.width, 1, branches); };
            ggml_tensor *attended = kv_write_attend(ctx, graph, state.self[i], this_position(qkv[1]), this_position(qkv[2]), qkv[0], pos);
            x = residual_plus(ctx, m, x, l.o, attended);

            // With no prompt the condition is null: zero keys and values, an attention output of 0.
            // So the branches a cross cache does not hold (the null one, on the CPU) are not
            // computed: their query would go unused and their residual passes as it is (the
            // output projection has no bias). Half the arithmetic of these two products: F16's,
            // on GGML's, bound by it; the strips (Q4_K_M's, Q5_K_M's, Q8_0's) read at about memory speed.
            if (!state.cross.empty()) {
                const KvCache &cross = state.cross[i];
                ggml_tensor *attending = cross.branches < branches ? ggml_view_2d(ctx, x, hp.width, cross.branches, x->nb[1], 0) : x;
                ggml_tensor *query =
                    InputProducts(ctx, m.strips, attending, {l.cross_norm_w, l.cross_norm_b, &hp.norm_epsilon}).times(l.cross_q);
                x = residual_plus(ctx, m, x, l.cross_o, kv_attend(ctx, cross, kv_as_is(cross), query));
            }

            x = InputProducts(ctx, m.strips, x, {l.ffn_norm_w, l.ffn_norm_b, &hp.norm_epsilon}).feed_forward_plus(l.up, l.down, x);
        }
        // [codebook_size, branches] each
        state.step_heads = InputProducts(ctx, m.strips, x, {m.dec_norm_w, m.dec_norm_b, &hp.norm_epsilon}).times_each(m.dec_heads);
        for (ggml_tensor *head : state.step_heads) {
            ggml_set_output(head->view_src != nullptr ? head->view_src : head); // a view's memory is its source's
            ggml_build_forward_expand(graph, head);
        }
    };
    auto inputs = [&] { ggml_backend_tensor_set(state.step_input, embedded.data(), 0, ggml_nbytes(state.step_input)); };
    bool computed = false;
    if (state.step_graph != 0 && state.step_graph == runner.graphs_built()) {
        for (KvCache &cache : state.self) {
            kv_write_at(cache, pos, 1);
        }
        computed = runner.rerun(inputs);
    } else {
        computed = runner.run(build, inputs);
        state.step_graph = m.accelerator == nullptr ? runner.graphs_built() : 0;
    }
    if (!computed) {
        state.step_graph = 0;
        error = "GGML could not compute it";
        return false;
    }
    const int64_t card = hp.codebook_size;
    logits.resize(branches * hp.codebooks * card);
    std::vector<float> all(card * branches);
    for (uint32_t k = 0; k < hp.codebooks; k++) {
        ggml_backend_tensor_get(state.step_heads[k], all.data(), 0, ggml_nbytes(state.step_heads[k]));
        for (int64_t b = 0; b < branches; b++) {
            std::copy_n(all.data() + b * card, card, logits.data() + (b * hp.codebooks + k) * card);
        }
    }
    state.n_past++;
    return true;
}

} // namespace lofi
