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

// Picks a token from guided logits: greedy when temperature is 0 or top_k is 1.
int32_t sample_token(std::vector<float> logits, const SamplingParams &params, std::mt19937_64 &rng);

// Decoder steps for a run of `frames` frames: the delay pattern adds codebooks - 1.
int64_t run_steps(const DecoderHparams &hp, int64_t frames);

enum class RunStatus { ok, failed, cancelled };

// Generates `frames` audio frames per codebook for the prompt's T5 states; codes come out
// codebook-major [codebook][frame]. The first `audio_prompt.size() / codebooks` frames are
// the audio prompt's (codebook-major too), fed to the decoder instead of sampled: the rest
// continues them, as audiocraft extends a track past the model's context.
// progress(step, steps) runs after each step and returns false to cancel.
RunStatus generate_codes(const MusicgenModel &m, const std::vector<float> &t5_hidden, int64_t tokens, int64_t frames,
                    const std::vector<int32_t> &audio_prompt, const SamplingParams &params,
                    const std::function<bool(int64_t, int64_t)> &progress, std::vector<int32_t> &codes, std::string &error);

} // namespace lofi
