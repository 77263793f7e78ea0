// The C API over the MusicGen engine: load, then per-run state through text encoder, decoder LM
// runs and EnCodec.
#include <algorithm>
#include <cstring>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "encodec_decoder.h"
#include "errors.h"
#include "graph_runner.h"
#include "lofi_ggml.h"
#include "musicgen_decoder.h"
#include "musicgen_generate.h"
#include "musicgen_inspect.h"
#include "musicgen_model.h"
#include "read_bandwidth.h"
#include "t5_encoder.h"

struct lofi_musicgen {
    std::shared_ptr<lofi::MusicgenModel> model; // shared with the weights probes
};

struct lofi_weights_probe {
    std::shared_ptr<const lofi::MusicgenModel> model; // keeps the ranges' memory
    std::vector<lofi::ByteRange> ranges;
};

struct lofi_musicgen_state {
    int64_t codebooks = 0, codebook_size = 0;
    bool text_encoded = false;
    std::vector<float> text; // T5 states, token-major; none for no prompt
    size_t tokens = 0;
    std::vector<std::vector<int32_t>> codes; // [codebook][frame]
    std::vector<float> audio;
    std::vector<float> last_logits; // the last run's last step, guided: [codebook][codebook_size]
    std::unique_ptr<lofi::ChannelStreams> stream; // while the runs stream their audio
    int64_t dropped = 0;                         // frames lofi_musicgen_state_keep_last let go
    int64_t stream_origin = 0;                   // the frame (counting dropped ones) the stream started at
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

bool has_text(const lofi_musicgen_state *state, char *err, size_t err_len) {
    if (!state->text_encoded) {
        lofi::set_error(err, err_len, "no text states: encode the prompt first");
        return false;
    }
    return true;
}

// The state's last `frames` frames, codebook-major.
std::vector<int32_t> tail(const lofi_musicgen_state *state, int64_t frames) {
    std::vector<int32_t> out;
    for (const std::vector<int32_t> &book : state->codes) {
        out.insert(out.end(), book.end() - frames, book.end());
    }
    return out;
}

// Streams decode a second of audio at a time by default: each push costs a frame-stage graph.
constexpr int64_t kStreamFrames = 50;

// Decode chunks: by default ~1.3 s per upsampling graph (intermediates of tens of MB) and 10 s
// per frame-stage graph (~40k nodes: a 10-minute track in one graph would take ~1 GB of graph
// metadata).
lofi::EncodecChunks chunks_of(int64_t chunk_frames) {
    return chunk_frames > 0 ? lofi::EncodecChunks{chunk_frames, chunk_frames} : lofi::EncodecChunks{500, 64};
}

// A stream upsamples each second it is pushed in two graphs of ~25 frames: it runs beside the
// decoder's weights and cache, so its intermediates matter (~15 MB resident instead of ~45),
// for one more halo per second (4 frames more in 54: ~7 % more upsampling work).
constexpr lofi::EncodecChunks kStreamChunks{500, 25};

// Audio made after pages of the model's file were lost (mapping_guard.h) is not the model's:
// none leaves the engine. Says why in `error`.
bool file_intact(const lofi::MusicgenModel &m, std::string &error) {
    if (m.mapping_damaged.load()) {
        error = "the model file " + m.file->path + " was cut shorter while in use";
        return false;
    }
    return true;
}

// Pushes frames [from, to) of `codes` (codebook-major over `frames` frames) into the state's
// stream and hands what it decodes to `audio`.
bool stream_push(const lofi::MusicgenModel &m, lofi_musicgen_state *state, const std::vector<int32_t> &codes, int64_t frames,
                 int64_t from, int64_t to, bool last, lofi_audio_fn audio, void *audio_user, std::string &error) {
    std::vector<int32_t> slice;
    for (int64_t q = 0; q < state->codebooks; q++) {
        slice.insert(slice.end(), codes.begin() + q * frames + from, codes.begin() + q * frames + to);
    }
    std::vector<float> samples;
    if (!state->stream->push(m, slice.data(), to - from, last, samples, error) || !file_intact(m, error)) {
        return false;
    }
    if (!samples.empty()) {
        audio(audio_user, samples.data(), static_cast<int64_t>(samples.size()));
    }
    return true;
}

} // namespace

extern "C" {

lofi_musicgen *lofi_musicgen_load(const char *path, int threads, const char *device, char *err, size_t err_len) {
#if defined(__GLIBC__)
    // glibc raises its mmap threshold (up to 32 MB) each time a large block is freed, after
    // which EnCodec's per-chunk graph buffers and laid-out weights land in the brk heap and stay
    // resident when freed (~90 MB while a track streams). A fixed threshold keeps them mapped.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
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

bool lofi_musicgen_file_damaged(const lofi_musicgen *model) { return model->model->mapping_damaged.load(); }

const char *lofi_musicgen_kv_cache(const lofi_musicgen *model) { return lofi::kv_type_name(model->model->kv_type); }

bool lofi_musicgen_set_kv_cache(lofi_musicgen *model, const char *name, char *err, size_t err_len) {
    lofi::MusicgenModel &m = *model->model;
    lofi::KvType type;
    if (!lofi::kv_type_named(name, type)) {
        lofi::set_error(err, err_len, std::string("unknown attention cache type \"") + name + "\" (f32, f16, int8 or int8-int4)");
        return false;
    }
    if (m.accelerator != nullptr && !lofi::kv_type_on_accelerators(type)) {
        lofi::set_error(err, err_len, std::string("an ") + name + " attention cache needs the CPU; the model runs on " + m.device);
        return false;
    }
    m.kv_type = type;
    return true;
}

size_t lofi_musicgen_step_weight_bytes(const lofi_musicgen *model) {
    size_t bytes = 0;
    for (const ggml_tensor *w : lofi::decoder_step_products(*model->model)) {
        bytes += ggml_nbytes(w);
    }
    return bytes;
}

lofi_weights_probe *lofi_musicgen_weights_probe_new(lofi_musicgen *model) {
    char err[1];
    const lofi::MusicgenModel *placed = ready(model, err, sizeof(err));
    if (placed == nullptr || placed->accelerator != nullptr) {
        return nullptr;
    }
    auto *probe = new lofi_weights_probe{model->model, {}};
    for (const ggml_tensor *w : lofi::decoder_step_products(*placed)) {
        const ggml_tensor *strips = placed->strips.of(w), *read = strips != nullptr ? strips : w;
        probe->ranges.push_back({read->data, ggml_nbytes(read)});
    }
    return probe;
}

double lofi_weights_probe_bandwidth(const lofi_weights_probe *probe, int threads) { return lofi::read_bandwidth(probe->ranges, threads); }

void lofi_weights_probe_free(lofi_weights_probe *probe) { delete probe; }

size_t lofi_musicgen_kv_bytes_per_position(const lofi_musicgen *model) {
    const lofi::DecoderHparams &hp = model->model->hp.decoder;
    return hp.layers * lofi::kv_bytes_per_position(model->model->kv_type, hp.width / hp.heads, hp.heads, 2);
}

void lofi_musicgen_get_params(const lofi_musicgen *model, lofi_musicgen_params *out) {
    const lofi::MusicgenHparams &hp = model->model->hp;
    const uint32_t levels = hp.decoder.levels();
    *out = {hp.t5.width,
            hp.decoder.codebooks,
            hp.decoder.codebook_size,
            hp.sample_rate,
            hp.frame_rate,
            hp.codec.hop_length(),
            hp.decoder.context_length > levels ? hp.decoder.context_length - levels : 0,
            hp.decoder.audio_channels};
}

void lofi_musicgen_get_info(const lofi_musicgen *model, lofi_model_info *out) {
    lofi::fill_model_info(*model->model->file, model->model->hp, out);
}

const lofi_gguf *lofi_musicgen_file(const lofi_musicgen *model) { return model->model->file; }

lofi_run_params lofi_musicgen_default_run_params(const lofi_musicgen *model) {
    const lofi::GenerationDefaults &g = model->model->hp.generation;
    return lofi_run_params{0,       1,       lofi_sampling{g.guidance_scale, g.temperature, static_cast<int32_t>(g.top_k), g.top_p, 0},
                           nullptr, nullptr, nullptr,
                           nullptr, kStreamFrames};
}

int64_t lofi_musicgen_run_steps(const lofi_musicgen *model, int64_t prompt_frames, int64_t new_frames) {
    return lofi::run_steps(model->model->hp.decoder, prompt_frames + new_frames);
}

lofi_musicgen_state *lofi_musicgen_state_new(const lofi_musicgen *model) {
    auto *state = new lofi_musicgen_state;
    state->codebooks = model->model->hp.decoder.codebooks;
    state->codebook_size = model->model->hp.decoder.codebook_size;
    state->codes.resize(state->codebooks);
    return state;
}

void lofi_musicgen_state_free(lofi_musicgen_state *state) { delete state; }

const float *lofi_musicgen_state_text(const lofi_musicgen_state *state, size_t *n_tokens) {
    *n_tokens = state->tokens;
    return state->text.data();
}

int64_t lofi_musicgen_state_frames(const lofi_musicgen_state *state) {
    return static_cast<int64_t>(state->codes.empty() ? 0 : state->codes[0].size());
}

void lofi_musicgen_state_codes(const lofi_musicgen_state *state, int32_t *out) {
    for (const std::vector<int32_t> &book : state->codes) {
        out = std::copy(book.begin(), book.end(), out);
    }
}

bool lofi_musicgen_state_set_codes(lofi_musicgen_state *state, const int32_t *codes, int64_t frames, char *err,
                                   size_t err_len) {
    const size_t count = static_cast<size_t>(frames * state->codebooks);
    if (frames < 0 || std::any_of(codes, codes + count, [&](int32_t code) { return code < 0 || code >= state->codebook_size; })) {
        lofi::set_error(err, err_len, "the codes have a value outside the codebook");
        return false;
    }
    for (int64_t q = 0; q < state->codebooks; q++) {
        state->codes[q].assign(codes + q * frames, codes + (q + 1) * frames);
    }
    state->audio.clear();
    state->stream.reset();
    state->dropped = 0;
    return true;
}

const float *lofi_musicgen_state_audio(const lofi_musicgen_state *state, size_t *n_samples) {
    *n_samples = state->audio.size();
    return state->audio.data();
}

bool lofi_musicgen_encode_text(lofi_musicgen *model, lofi_musicgen_state *state, const int32_t *ids, size_t n, char *err,
                               size_t err_len) {
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
    state->text_encoded = false;
    state->tokens = 0;
    state->text.clear();
    if (n == 0) { // no prompt: the null condition, T5 not needed
        state->text_encoded = true;
        return true;
    }
    lofi::GraphRunner runner(m.backends());
    const bool encoded = lofi::t5_encode(m, runner, std::vector<int32_t>(ids, ids + n), state->text);
    lofi::release_stage_pages(m, "t5.");
    if (!encoded) {
        lofi::set_error(err, err_len, "T5: GGML could not compute the encoder graph");
        return false;
    }
    state->tokens = n;
    state->text_encoded = true;
    return true;
}

bool lofi_musicgen_first_logits(lofi_musicgen *model, lofi_musicgen_state *state, float guidance_scale, float *out,
                                char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr || !has_text(state, err, err_len)) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    lofi::GraphRunner runner(m.backends());
    lofi::DecoderState decoder;
    std::vector<float> logits;
    const std::vector<int32_t> start(m.hp.decoder.codebooks, static_cast<int32_t>(m.hp.decoder.start_token));
    const int64_t tokens = static_cast<int64_t>(state->tokens);
    if (!lofi::decoder_start(m, runner, state->text, tokens, 1, lofi::decoder_branches(tokens, guidance_scale), decoder)) {
        lofi::set_error(err, err_len, "decoder: GGML could not compute the first step");
        return false;
    }
    std::string why;
    if (!lofi::decoder_step(m, runner, decoder, start, logits, why)) {
        lofi::set_error(err, err_len, "decoder: the first step: " + why);
        return false;
    }
    lofi::all_guided_logits(logits, decoder.branches, m.hp.decoder.codebook_size, guidance_scale, out);
    return true;
}

lofi_status lofi_musicgen_generate(lofi_musicgen *model, lofi_musicgen_state *state, const lofi_run_params *params,
                                   char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr || !has_text(state, err, err_len)) {
        return LOFI_FAILED;
    }
    const lofi::MusicgenModel &m = *placed;
    const int64_t held = lofi_musicgen_state_frames(state);
    if (params->prompt_frames < 0 || params->prompt_frames > held || params->new_frames < 1) {
        lofi::set_error(err, err_len, "a run continues at most the frames the state holds and adds at least one");
        return LOFI_FAILED;
    }
    const lofi_sampling &s = params->sampling;
    const lofi::SamplingParams sampling{s.guidance_scale, s.temperature, s.top_k, s.top_p, s.seed};
    const int64_t frames = params->prompt_frames + params->new_frames;
    std::vector<int32_t> out;
    std::string error;
    // Streaming: the stream has every frame the state held before the run (it is started, or
    // caught up, here); the run's new frames follow as the decoder finishes them.
    const bool streaming = params->audio != nullptr;
    const int64_t stream_every = std::max<int64_t>(1, params->stream_frames);
    int64_t streamed = params->prompt_frames; // run frames the stream has
    if (streaming) {
        if (!state->stream) {
            state->stream = std::make_unique<lofi::ChannelStreams>(m, kStreamChunks);
            state->stream_origin = state->dropped;
        }
        const int64_t missing = state->dropped + held - state->stream_origin - state->stream->frames_received();
        if (missing > 0) {
            std::vector<int32_t> held_codes(static_cast<size_t>(held * state->codebooks));
            lofi_musicgen_state_codes(state, held_codes.data());
            if (!stream_push(m, state, held_codes, held, held - missing, held, false, params->audio, params->audio_user, error)) {
                state->stream.reset();
                lofi::set_error(err, err_len, error);
                return LOFI_FAILED;
            }
        }
    }
    bool stream_failed = false;
    auto report = [&](int64_t step, int64_t steps) {
        if (streaming) {
            // Frame f is final once its last level is sampled, levels - 1 steps after its first.
            const int64_t levels = m.hp.decoder.levels();
            const int64_t complete = std::min(frames, std::max<int64_t>(0, step - levels + 1));
            if (complete - streamed >= stream_every || (complete == frames && complete > streamed)) {
                if (!stream_push(m, state, out, frames, streamed, complete, false, params->audio, params->audio_user, error)) {
                    stream_failed = true;
                    return false;
                }
                streamed = complete;
            }
        }
        return params->progress == nullptr || params->progress(params->progress_user, step, steps);
    };
    switch (lofi::generate_codes(m, state->text, static_cast<int64_t>(state->tokens), frames, tail(state, params->prompt_frames),
                                 sampling, report, out, state->last_logits, error)) {
    case lofi::RunStatus::cancelled:
        // The stream holds frames the state will not: it cannot go on from here.
        state->stream.reset();
        lofi::set_error(err, err_len, stream_failed ? error : "cancelled");
        return stream_failed ? LOFI_FAILED : LOFI_CANCELLED;
    case lofi::RunStatus::failed:
        state->stream.reset();
        lofi::set_error(err, err_len, error);
        return LOFI_FAILED;
    case lofi::RunStatus::ok:
        break;
    }
    for (int64_t q = 0; q < state->codebooks; q++) {
        const auto generated = out.begin() + q * frames;
        state->codes[q].insert(state->codes[q].end(), generated + params->prompt_frames, generated + frames);
    }
    state->audio.clear();
    return LOFI_OK;
}

const float *lofi_musicgen_state_last_logits(const lofi_musicgen_state *state, size_t *n) {
    *n = state->last_logits.size();
    return state->last_logits.data();
}

bool lofi_musicgen_decode_audio(lofi_musicgen *model, lofi_musicgen_state *state, int64_t chunk_frames, char *err,
                                size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    const lofi::MusicgenModel &m = *placed;
    const int64_t frames = lofi_musicgen_state_frames(state);
    if (frames == 0) {
        lofi::set_error(err, err_len, "no codes to decode");
        return false;
    }
    std::vector<int32_t> codes(static_cast<size_t>(frames * state->codebooks));
    lofi_musicgen_state_codes(state, codes.data());
    std::string error;
    const lofi::EncodecChunks chunks = chunks_of(chunk_frames);
    const bool decoded = lofi::encodec_decode(m, codes, frames, chunks, state->audio, error) && file_intact(m, error);
    lofi::release_stage_pages(m, "codec.");
    if (!decoded) {
        state->audio.clear();
        lofi::set_error(err, err_len, error);
        return false;
    }
    return true;
}

bool lofi_musicgen_stream_finish(lofi_musicgen *model, lofi_musicgen_state *state, lofi_audio_fn audio, void *audio_user,
                                 char *err, size_t err_len) {
    const lofi::MusicgenModel *placed = ready(model, err, err_len);
    if (placed == nullptr) {
        return false;
    }
    if (!state->stream) {
        lofi::set_error(err, err_len, "no stream to finish: no run streamed its audio");
        return false;
    }
    std::string error;
    const bool ok = stream_push(*placed, state, {}, 0, 0, 0, true, audio, audio_user, error);
    state->stream.reset();
    lofi::release_stage_pages(*placed, "codec.");
    if (!ok) {
        lofi::set_error(err, err_len, error);
    }
    return ok;
}

void lofi_musicgen_state_keep_last(lofi_musicgen_state *state, int64_t frames) {
    const int64_t drop = lofi_musicgen_state_frames(state) - std::max<int64_t>(frames, 0);
    if (drop > 0) {
        for (std::vector<int32_t> &book : state->codes) {
            book.erase(book.begin(), book.begin() + drop);
        }
        state->dropped += drop;
    }
}

} // extern "C"
