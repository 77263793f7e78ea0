// The generation loop: delay pattern, classifier-free guidance, sampling, progress and cancel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include "musicgen_model.h"

namespace lofi {

struct SamplingParams {
    float guidance_scale = 3.0f;
    float temperature = 1.0f; // 0 = greedy
    int32_t top_k = 250;      // 0 or 1 = greedy
    float top_p = 0.0f;       // 0 = off
    uint64_t seed = 0;
};

// Classifier-free guidance: out = null + (cond - null) * scale, n values.
void guide(const float *cond, const float *null, size_t n, float scale, float *out);

// The decoder branches a run computes: both for guidance, or one where guidance cannot change
// the result (a scale of 1 keeps the conditioned logits; with no prompt tokens both branches
// would see the null condition).
int64_t decoder_branches(int64_t tokens, float guidance_scale);

// Codebook q's logits to sample from, out of a step's [branch][codebook][card] logits: guided
// when there are two branches, the one branch's otherwise.
void guided_logits(const std::vector<float> &logits, int64_t branches, int64_t q, int64_t card, float scale, float *out);

// The same for every codebook: out holds codebooks * card.
void all_guided_logits(const std::vector<float> &logits, int64_t branches, int64_t card, float scale, float *out);

// Picks a token from guided logits: greedy when temperature is 0 or top_k is 1.
int32_t sample_token(std::vector<float> logits, const SamplingParams &params, std::mt19937_64 &rng);

// Decoder steps for a run of `frames` frames: the delay pattern adds codebooks - 1.
int64_t run_steps(const DecoderHparams &hp, int64_t frames);

enum class RunStatus { ok, failed, cancelled };

// Generates `frames` audio frames per codebook for the prompt's T5 states (0 tokens: no prompt,
// the null condition); codes come out
// codebook-major [codebook][frame]. The first `audio_prompt.size() / codebooks` frames are
// the audio prompt's (codebook-major too), fed to the decoder instead of sampled: the rest
// continues them, as audiocraft extends a track past the model's context.
// progress(step, steps) runs after each step and returns false to cancel. last_logits receives
// the last step's guided logits of every codebook ([codebook][codebook_size]).
RunStatus generate_codes(const MusicgenModel &m, const std::vector<float> &t5_hidden, int64_t tokens, int64_t frames,
                    const std::vector<int32_t> &audio_prompt, const SamplingParams &params,
                    const std::function<bool(int64_t, int64_t)> &progress, std::vector<int32_t> &codes,
                    std::vector<float> &last_logits, std::string &error);

} // namespace lofi
