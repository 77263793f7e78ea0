#include "musicgen_generate.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "graph_runner.h"
#include "musicgen_decoder.h"
#include "thread_governor.h"

namespace lofi {

void guide(const float *cond, const float *null, size_t n, float scale, float *out) {
    for (size_t i = 0; i < n; i++) {
        out[i] = null[i] + (cond[i] - null[i]) * scale;
    }
}

int64_t decoder_branches(int64_t tokens, float guidance_scale) { return tokens > 0 && guidance_scale != 1.0f ? 2 : 1; }

void guided_logits(const std::vector<float> &logits, int64_t branches, int64_t q, int64_t card, float scale, float *out) {
    const int64_t books = static_cast<int64_t>(logits.size()) / (branches * card);
    const float *cond = logits.data() + q * card;
    if (branches == 1) {
        std::copy_n(cond, card, out);
    } else {
        guide(cond, cond + books * card, static_cast<size_t>(card), scale, out);
    }
}

void all_guided_logits(const std::vector<float> &logits, int64_t branches, int64_t card, float scale, float *out) {
    const int64_t books = static_cast<int64_t>(logits.size()) / (branches * card);
    for (int64_t q = 0; q < books; q++) {
        guided_logits(logits, branches, q, card, scale, out + q * card);
    }
}

int32_t sample_token(std::vector<float> logits, const SamplingParams &params, std::mt19937_64 &rng) {
    const int32_t n = static_cast<int32_t>(logits.size());
    if (params.temperature <= 0.0f || params.top_k == 1) {
        return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    std::vector<int32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    const int32_t k = params.top_k > 0 ? std::min(params.top_k, n) : n;
    // The top k found in linear time, then only they sorted (a partial_sort's heap over the 2048
    // codes: ~30 % more time, spent while the other thread waits). Ties go to the lower code, so
    // the order never depends on the algorithm.
    auto before = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
    std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
    order.resize(k);
    std::sort(order.begin(), order.end(), before);
    // Softmax over the top k at this temperature, then the top-p nucleus if asked for.
    std::vector<double> probs(k);
    const double top = logits[order[0]];
    double sum = 0.0;
    for (int32_t i = 0; i < k; i++) {
        probs[i] = std::exp((logits[order[i]] - top) / params.temperature);
        sum += probs[i];
    }
    int32_t keep = k;
    if (params.top_p > 0.0f && params.top_p < 1.0f) {
        double mass = 0.0;
        for (keep = 0; keep < k && mass < params.top_p * sum; keep++) {
            mass += probs[keep];
        }
    }
    std::discrete_distribution<int32_t> pick(probs.begin(), probs.begin() + keep);
    return order[pick(rng)];
}

int64_t run_steps(const DecoderHparams &hp, int64_t frames) { return frames + hp.levels() - 1; }

RunStatus generate_codes(const MusicgenModel &m, const std::vector<float> &t5_hidden, int64_t tokens, int64_t frames,
                    const std::vector<int32_t> &audio_prompt, const SamplingParams &params,
                    const std::function<bool(int64_t, int64_t)> &progress, std::vector<int32_t> &codes,
                    std::vector<float> &last_logits, std::string &error) {
    const DecoderHparams &hp = m.hp.decoder;
    const int64_t books = hp.codebooks, card = hp.codebook_size;
    const int64_t prompt_frames = static_cast<int64_t>(audio_prompt.size()) / books;
    if (prompt_frames * books != static_cast<int64_t>(audio_prompt.size()) || prompt_frames >= frames) {
        error = "the audio prompt must be whole frames, fewer than the frames asked for";
        return RunStatus::failed;
    }
    if (std::any_of(audio_prompt.begin(), audio_prompt.end(), [&](int32_t code) { return code < 0 || code >= card; })) {
        error = "the audio prompt has a code outside the codebook";
        return RunStatus::failed;
    }
    // Delay pattern: codebook q at step s holds frame s - 1 - q / channels (a stereo model's
    // left/right pair shares its level's delay); the start token elsewhere.
    const int64_t steps = run_steps(hp, frames);
    if (steps + 1 > hp.context_length) {
        error = "asked for " + std::to_string(frames) + " frames; the model's context holds " +
                std::to_string(hp.context_length - hp.levels());
        return RunStatus::failed;
    }
    GraphRunner runner(m.backends());
    DecoderState state;
    if (!decoder_start(m, runner, t5_hidden, tokens, steps, decoder_branches(tokens, params.guidance_scale), state)) {
        error = "could not start the decoder";
        return RunStatus::failed;
    }
    ThreadGovernor governor(m.cpu, m.governed_threads());
    std::mt19937_64 rng(params.seed);
    std::vector<int32_t> input(books, static_cast<int32_t>(hp.start_token));
    std::vector<float> logits, guided(card);
    codes.assign(books * frames, 0);
    for (int64_t s = 1; s <= steps; s++) {
        std::string why;
        if (!governor.run([&] { return decoder_step(m, runner, state, input, logits, why); })) {
            error = "decoder step " + std::to_string(s) + ": " + why;
            return RunStatus::failed;
        }
        for (int64_t q = 0; q < books; q++) {
            const int64_t frame = s - 1 - q / hp.audio_channels;
            if (frame < 0 || frame >= frames) {
                // Forced back outside the codebook's window: the start token before it, padding after.
                input[q] = static_cast<int32_t>(frame < 0 ? hp.start_token : hp.pad_token);
                continue;
            }
            if (frame < prompt_frames) {
                input[q] = audio_prompt[q * prompt_frames + frame];
            } else {
                guided_logits(logits, state.branches, q, card, params.guidance_scale, guided.data());
                input[q] = sample_token(guided, params, rng);
            }
            codes[q * frames + frame] = input[q];
        }
        if (progress && !progress(s, steps)) {
            return RunStatus::cancelled;
        }
    }
    last_logits.resize(books * card);
    all_guided_logits(logits, state.branches, card, params.guidance_scale, last_logits.data());
    return RunStatus::ok;
}

} // namespace lofi
