// MusicGen's decoder LM, one step at a time, with classifier-free guidance as a batch of two
// branches (0: conditioned on the prompt, 1: the null condition) or one branch where guidance
// cannot change the result, and a KV cache.
#pragma once

#include <cstdint>
#include <vector>

#include "graph_runner.h"
#include "kv_cache.h"
#include "musicgen_model.h"

namespace lofi {

struct DecoderState {
    ggml_context *ctx = nullptr;
    ggml_backend_buffer_t buffer = nullptr;
    // Per layer. The null branch of the cross-attention cache stays 0; with no prompt tokens
    // there is no cross-attention cache. (Sized once: graphs point at the elements.)
    std::vector<KvCache> self, cross;
    int64_t max_steps = 0, branches = 2, n_past = 0;
    // A step's graph, built by the first step. On the CPU, where the kernels read the position
    // from the caches, later steps compute it again while it is the runner's last graph
    // (building and placing it took ~0.35 ms of a ~9 ms step, while the other thread waited).
    uint64_t step_graph = 0; // the runner's graphs_built() after it; 0: none to reuse
    ggml_tensor *step_input = nullptr;
    std::vector<ggml_tensor *> step_heads;

    DecoderState() = default;
    DecoderState(const DecoderState &) = delete;
    DecoderState &operator=(const DecoderState &) = delete;
    ~DecoderState();
};

// Projects the T5 states (tokens x t5 width) into the conditioned branch's cross-attention
// cache; room for max_steps. branches: 2 for guidance (conditioned, null), 1 for the conditioned
// branch alone, or, with 0 tokens (no prompt), for the null condition alone.
bool decoder_start(const MusicgenModel &m, GraphRunner &runner, const std::vector<float> &t5_hidden, int64_t tokens,
                   int64_t max_steps, int64_t branches, DecoderState &state);

// Feeds one token per codebook at position state.n_past; logits come out as
// [branch][codebook][codebook_size]. False, with why in `error`, when it cannot.
bool decoder_step(const MusicgenModel &m, GraphRunner &runner, DecoderState &state, const std::vector<int32_t> &codes,
                  std::vector<float> &logits, std::string &error);

} // namespace lofi
