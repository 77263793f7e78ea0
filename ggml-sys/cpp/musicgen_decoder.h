// MusicGen's decoder LM, one step at a time, with classifier-free guidance as a batch of two
// (0: conditioned on the prompt, 1: the null condition) and a KV cache.
#pragma once

#include <cstdint>
#include <vector>

#include "graph_runner.h"
#include "musicgen_model.h"

namespace lofi {

struct DecoderState {
    ggml_context *ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
    // Per layer, keys and values alike [width, batch, positions]. The null half of the
    // cross-attention cache stays 0.
    std::vector<ggml_tensor *> k, v, cross_k, cross_v;
    int64_t prompt_tokens = 0, max_steps = 0, n_past = 0;

    DecoderState() = default;
    DecoderState(const DecoderState &) = delete;
    DecoderState &operator=(const DecoderState &) = delete;
    ~DecoderState();
};

// Projects the T5 states (tokens x t5 width) and fills the cross-attention cache; room for max_steps.
bool decoder_start(const MusicgenModel &m, GraphRunner &runner, const std::vector<float> &t5_hidden, int64_t tokens,
                   int64_t max_steps, DecoderState &state);

// Feeds one token per codebook at position state.n_past; logits come out as
// [batch (cond, null)][codebook][codebook_size].
bool decoder_step(const MusicgenModel &m, GraphRunner &runner, DecoderState &state, const std::vector<int32_t> &codes,
                  std::vector<float> &logits);

} // namespace lofi
