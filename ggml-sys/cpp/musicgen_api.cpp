// The C API over the MusicGen engine: load, text encoder, decoder LM, EnCodec.
#include <cstring>

#include "encodec_decoder.h"
#include "errors.h"
#include "graph_runner.h"
#include "lofi_ggml.h"
#include "musicgen_decoder.h"
#include "musicgen_generate.h"
#include "musicgen_model.h"
#include "t5_encoder.h"

struct lofi_musicgen {
    std::unique_ptr<lofi::MusicgenModel> model;
};

namespace {

// The model with its weights in place, placing them on the first call; nullptr (and `err`)
// when that fails.
const lofi::MusicgenModel *ready(lofi_musicgen *model, char *err, size_t err_len) {
    std::string error;
    if (!lofi::place_weights(*model->model, error)) {
        lofi::set_error(err, err_len, error);
        return nullptr;
    }
    return model->model.get();
}

std::vector<float> copy_states(const lofi::MusicgenModel &m, const float *t5_hidden, size_t n_tokens) {
    return std::vector<float>(t5_hidden, t5_hidden + n_tokens * m.hp.t5.width);
}

} // namespace

extern "C" {

lofi_musicgen *lofi_musicgen_load(const char *path, int threads, const char *device, char *err, size_t err_len) {
    std::string error;
    auto model = lofi::load_model(path, threads, device == nullptr ? "auto" : device, error);
    if (!model) {
        lofi::set_error(err, err_len, error);
        return nullptr;
    }
    return new lofi_musicgen{std::move(model)};
}

void lofi_musicgen_free(lofi_musicgen *model) { delete model; }

const char *lofi_musicgen_device(const lofi_musicgen *model) { return model->model->device.c_str(); }

void lofi_musicgen_get_params(const lofi_musicgen *model, lofi_musicgen_params *out) {
    const lofi::MusicgenHparams &hp = model->model->hp;
    const uint32_t books = hp.decoder.codebooks;
    *out = {hp.t5.width,
            books,
            hp.decoder.codebook_size,
            hp.sample_rate,
            hp.frame_rate,
            hp.codec.hop_length(),
            hp.decoder.context_length > books ? hp.decoder.context_length - books : 0,
            hp.generation.guidance_scale,
            hp.generation.temperature,
            hp.generation.top_p,
            hp.generation.top_k};
}

bool lofi_musicgen_encode_text(lofi_musicgen *model, const int32_t *ids, size_t n, float *out, char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= static_cast<int32_t>(m.hp.t5.vocab_size)) {
            lofi::set_error(err, err_len, "token id " + std::to_string(ids[i]) + " is outside the T5 vocabulary");
            return false;
        }
    }
    if (n == 0) {
        lofi::set_error(err, err_len, "no tokens to encode");
        return false;
    }
    lofi::GraphRunner runner(m.backends());
    std::vector<float> hidden;
    const bool encoded = lofi::t5_encode(m, runner, std::vector<int32_t>(ids, ids + n), hidden);
    lofi::release_stage_pages(m, "t5.");
    if (!encoded) {
        lofi::set_error(err, err_len, "T5: GGML could not compute the encoder graph");
        return false;
    }
    std::memcpy(out, hidden.data(), hidden.size() * sizeof(float));
    return true;
}

bool lofi_musicgen_first_logits(lofi_musicgen *model, const float *t5_hidden, size_t n_tokens, float guidance_scale,
                                float *out, char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    lofi::GraphRunner runner(m.backends());
    lofi::DecoderState state;
    std::vector<float> logits;
    const std::vector<int32_t> start(m.hp.decoder.codebooks, static_cast<int32_t>(m.hp.decoder.start_token));
    if (!lofi::decoder_start(m, runner, copy_states(m, t5_hidden, n_tokens), static_cast<int64_t>(n_tokens), 1, state) ||
        !lofi::decoder_step(m, runner, state, start, logits)) {
        lofi::set_error(err, err_len, "decoder: GGML could not compute the first step");
        return false;
    }
    const size_t half = logits.size() / 2;
    lofi::guide(logits.data(), logits.data() + half, half, guidance_scale, out);
    return true;
}

bool lofi_musicgen_generate_codes(lofi_musicgen *model, const float *t5_hidden, size_t n_tokens, int64_t frames,
                                  const int32_t *audio_prompt, int64_t prompt_frames, const lofi_sampling *sampling,
                                  lofi_progress_fn progress, void *user, int32_t *codes, char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    lofi::SamplingParams params{sampling->guidance_scale, sampling->temperature, sampling->top_k, sampling->top_p, sampling->seed};
    std::vector<int32_t> out;
    std::string error;
    auto report = [&](int64_t step, int64_t steps) { return progress == nullptr || progress(user, step, steps); };
    const std::vector<int32_t> prompt(audio_prompt, audio_prompt + prompt_frames * m.hp.decoder.codebooks);
    if (!lofi::generate_codes(m, copy_states(m, t5_hidden, n_tokens), static_cast<int64_t>(n_tokens), frames, prompt, params,
                              report, out, error)) {
        lofi::set_error(err, err_len, error);
        return false;
    }
    std::memcpy(codes, out.data(), out.size() * sizeof(int32_t));
    return true;
}

bool lofi_musicgen_decode_audio(lofi_musicgen *model, const int32_t *codes, int64_t frames, int64_t chunk_frames,
                                float *audio, char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    std::vector<float> out;
    std::string error;
    const size_t count = static_cast<size_t>(frames) * m.hp.codec.quantizers;
    // By default ~2 s per upsampling graph (im2col buffers of tens of MB) and 10 s per frame-stage
    // graph (~40k nodes: a 10-minute track in one graph would take ~1 GB of graph metadata).
    const lofi::EncodecChunks chunks = chunk_frames > 0 ? lofi::EncodecChunks{chunk_frames, chunk_frames} : lofi::EncodecChunks{500, 64};
    const bool decoded = lofi::encodec_decode(m, std::vector<int32_t>(codes, codes + count), frames, chunks, out, error);
    lofi::release_stage_pages(m, "codec.");
    if (!decoded) {
        lofi::set_error(err, err_len, error);
        return false;
    }
    std::memcpy(audio, out.data(), out.size() * sizeof(float));
    return true;
}

} // extern "C"
