#include "encodec_decoder.h"

#include "graph_runner.h"
#include "thread_governor.h"

namespace lofi {

namespace {

// Reflect padding as transformers' EncodecConv1d._pad1d: zero-extends first when the input is
// shorter than the padding.
ggml_tensor *reflect_pad(ggml_context *ctx, ggml_tensor *x, int left, int right) {
    const int64_t length = x->ne[0];
    const int64_t max_pad = std::max(left, right);
    if (length > max_pad) {
        return ggml_pad_reflect_1d(ctx, x, left, right);
    }
    const int extra = static_cast<int>(max_pad - length + 1);
    ggml_tensor *padded = ggml_pad_reflect_1d(ctx, ggml_pad(ctx, x, extra, 0, 0, 0), left, right);
    return ggml_view_2d(ctx, padded, padded->ne[0] - extra, padded->ne[1], padded->nb[1], 0);
}

// Non-causal stride-1 convolution with F32 im2col (GGML's conv_1d goes through F16, which
// costs parity). x: [time, in], weight: [kernel, in, out] -> [time, out].
ggml_tensor *conv1d(ggml_context *ctx, ggml_tensor *x, ggml_tensor *weight, ggml_tensor *bias, int dilation = 1) {
    const int kernel = static_cast<int>(weight->ne[0]);
    const int total = (kernel - 1) * dilation; // effective kernel - stride
    const int right = total / 2;
    ggml_tensor *padded = total > 0 ? reflect_pad(ctx, x, total - right, right) : x;
    ggml_tensor *cols = ggml_im2col(ctx, weight, padded, 1, 0, 0, 0, dilation, 0, false, GGML_TYPE_F32); // [in*kernel, time]
    ggml_tensor *y = ggml_mul_mat(ctx, cols, ggml_reshape_2d(ctx, weight, weight->ne[0] * weight->ne[1], weight->ne[2]));
    y = ggml_reshape_2d(ctx, y, cols->ne[1], weight->ne[2]); // [time, out]
    return ggml_add(ctx, y, ggml_reshape_2d(ctx, bias, 1, bias->ne[0]));
}

// ConvTranspose1d with stride r and kernel 2r (the shape checks guarantee it), trimmed as
// EncodecConvTranspose1d (non-causal). One GEMM gives every input frame's 2r taps for every
// output channel; the two halves of the taps overlap-add at a one-frame offset. (GGML's
// conv_transpose_1d is a loop of dot products, several times slower here.)
ggml_tensor *conv_transpose(ggml_context *ctx, ggml_tensor *x, ggml_tensor *weight, ggml_tensor *bias, int stride) {
    const int64_t s = stride, out = weight->ne[1], in = weight->ne[2], frames = x->ne[0];
    ggml_tensor *w = ggml_reshape_2d(ctx, ggml_cont(ctx, ggml_permute(ctx, weight, 1, 2, 0, 3)), in, 2 * s * out); // [in, taps*out]
    ggml_tensor *taps = ggml_mul_mat(ctx, w, ggml_cont(ctx, ggml_transpose(ctx, x)));                              // [taps*out, frames]
    taps = ggml_reshape_4d(ctx, taps, s, 2, out, frames);
    auto half = [&](int h) { // [phase, frame, channel]
        ggml_tensor *v = ggml_view_3d(ctx, taps, s, out, frames, taps->nb[2], taps->nb[3], h * taps->nb[1]);
        return ggml_cont(ctx, ggml_permute(ctx, v, 0, 2, 1, 3));
    };
    ggml_tensor *y = ggml_add(ctx, ggml_pad_ext(ctx, half(0), 0, 0, 0, 1, 0, 0, 0, 0), ggml_pad_ext(ctx, half(1), 0, 0, 1, 0, 0, 0, 0, 0));
    y = ggml_reshape_2d(ctx, y, s * (frames + 1), out); // [(frames - 1) * s + 2s, out]
    const int64_t total = s, right = total / 2, left = total - right;
    y = ggml_view_2d(ctx, y, y->ne[0] - total, y->ne[1], y->nb[1], left * ggml_element_size(y));
    return ggml_add(ctx, y, ggml_reshape_2d(ctx, bias, 1, bias->ne[0]));
}

// The LSTM's state between frame-stage chunks: per layer, h as [channels, 1] and the cell as
// [channels]; no tensors (zeros) before the first frame.
struct LstmState {
    std::vector<ggml_tensor *> h, cell;
};

// PyTorch's multi-layer LSTM over x: [channels, time] from state `start`, plus the skip
// connection EncodecLSTM adds; each layer's last state goes to `end`. W_ih·x for every step at
// once; the recurrence step by step; the outputs joined pairwise.
ggml_tensor *lstm(ggml_context *ctx, const MusicgenModel &m, const std::string &prefix, ggml_tensor *x, const LstmState &start,
                  LstmState &end) {
    const int64_t c = x->ne[0], steps = x->ne[1];
    ggml_tensor *input = x;
    end = LstmState{};
    for (uint32_t layer = 0; layer < m.hp.codec.lstm_layers; layer++) {
        const std::string l = "_l" + std::to_string(layer);
        ggml_tensor *w_hh = m.get(prefix + "weight_hh" + l);
        ggml_tensor *bias = ggml_add(ctx, m.get(prefix + "bias_ih" + l), m.get(prefix + "bias_hh" + l));
        ggml_tensor *gates_x = ggml_add(ctx, ggml_mul_mat(ctx, m.get(prefix + "weight_ih" + l), input), bias); // [4c, time]
        ggml_tensor *h = start.h.empty() ? nullptr : start.h[layer];
        ggml_tensor *cell = start.cell.empty() ? nullptr : start.cell[layer];
        std::vector<ggml_tensor *> outputs;
        for (int64_t t = 0; t < steps; t++) {
            ggml_tensor *gates = ggml_view_1d(ctx, gates_x, 4 * c, t * gates_x->nb[1]);
            if (h != nullptr) {
                gates = ggml_add(ctx, gates, ggml_reshape_1d(ctx, ggml_mul_mat(ctx, w_hh, h), 4 * c));
            }
            auto gate = [&](int i) { return ggml_view_1d(ctx, gates, c, i * c * ggml_element_size(gates)); };
            ggml_tensor *in = ggml_sigmoid(ctx, gate(0)), *forget = ggml_sigmoid(ctx, gate(1));
            ggml_tensor *candidate = ggml_tanh(ctx, gate(2)), *out = ggml_sigmoid(ctx, gate(3));
            ggml_tensor *update = ggml_mul(ctx, in, candidate);
            cell = cell == nullptr ? update : ggml_add(ctx, ggml_mul(ctx, forget, cell), update);
            h = ggml_reshape_2d(ctx, ggml_mul(ctx, out, ggml_tanh(ctx, cell)), c, 1);
            outputs.push_back(h);
        }
        end.h.push_back(h);
        end.cell.push_back(cell);
        while (outputs.size() > 1) { // join [c, 1] columns into [c, time] in log2(time) rounds
            std::vector<ggml_tensor *> joined;
            for (size_t i = 0; i + 1 < outputs.size(); i += 2) {
                joined.push_back(ggml_concat(ctx, outputs[i], outputs[i + 1], 1));
            }
            if (outputs.size() % 2 == 1) {
                joined.push_back(outputs.back());
            }
            outputs.swap(joined);
        }
        input = outputs[0];
    }
    return ggml_add(ctx, input, x);
}

// Frame rate for `frames` frames whose codes come with `halo` frames of context on each side
// (codes_in: [codebook][halo + frames + halo]): residual VQ (the sum of each codebook's vectors),
// first convolution (the halo makes it see the neighbouring chunks), LSTM from `start`.
// Returns [frames, channels].
ggml_tensor *build_frame_stage(ggml_context *ctx, const MusicgenModel &m, ggml_tensor *codes_in, int64_t frames, int64_t halo_before,
                               int64_t halo_after, const LstmState &start, LstmState &end) {
    const CodecHparams &hp = m.hp.codec;
    const int64_t span = halo_before + frames + halo_after;
    ggml_tensor *emb = nullptr; // [dim, span]
    for (uint32_t q = 0; q < hp.quantizers; q++) {
        ggml_tensor *rows = ggml_get_rows(ctx, m.codebooks[q], ggml_view_1d(ctx, codes_in, span, q * span * sizeof(int32_t)));
        emb = emb == nullptr ? rows : ggml_add(ctx, emb, rows);
    }
    ggml_tensor *x = ggml_cont(ctx, ggml_transpose(ctx, emb)); // [time, channels]
    x = conv1d(ctx, x, m.get("codec.dec.0.weight"), m.get("codec.dec.0.bias"));
    x = ggml_view_2d(ctx, x, frames, x->ne[1], x->nb[1], halo_before * x->nb[0]); // the chunk's own frames
    x = lstm(ctx, m, "codec.dec.1.lstm.", ggml_cont(ctx, ggml_transpose(ctx, x)), start, end);
    return ggml_cont(ctx, ggml_transpose(ctx, x));
}

// Upsampling: [ELU, transposed conv, residual blocks] per ratio, ELU, last convolution.
// x: [frames, channels] -> [samples, audio channels].
ggml_tensor *build_upsampling(ggml_context *ctx, const MusicgenModel &m, ggml_tensor *x) {
    const CodecHparams &hp = m.hp.codec;
    auto layer = [&](int i, const std::string &part) { return m.get("codec.dec." + std::to_string(i) + part); };
    int index = 2; // after the first convolution and the LSTM
    for (uint32_t ratio : hp.upsampling_ratios) {
        index++; // ELU
        x = conv_transpose(ctx, ggml_elu(ctx, x), layer(index, ".weight"), layer(index, ".bias"), static_cast<int>(ratio));
        index++;
        for (uint32_t j = 0, dilation = 1; j < hp.residual_layers; j++, dilation *= hp.dilation_growth) {
            const std::string block = ".block.";
            ggml_tensor *y = conv1d(ctx, ggml_elu(ctx, x), layer(index, block + "1.weight"), layer(index, block + "1.bias"), static_cast<int>(dilation));
            y = conv1d(ctx, ggml_elu(ctx, y), layer(index, block + "3.weight"), layer(index, block + "3.bias"));
            ggml_tensor *shortcut = hp.conv_shortcut ? conv1d(ctx, x, layer(index, ".shortcut.weight"), layer(index, ".shortcut.bias")) : x;
            x = ggml_add(ctx, shortcut, y);
            index++;
        }
    }
    index++; // ELU
    return conv1d(ctx, ggml_elu(ctx, x), layer(index, ".weight"), layer(index, ".bias"));
}

// Frames of context on each side of an upsampling chunk: twice the stack's reach (one frame:
// a halo of 1 already matches the unchunked result, 0 does not), so every kept sample equals
// the unchunked result. Each frame of halo costs 2/64 more upsampling work.
constexpr int64_t kHaloFrames = 2;

// Upsampling chunk [start, end) of the stream's features, with `halo_*` frames of context.
// features: [channel][frame - origin].
bool upsample_chunk(const MusicgenModel &m, GraphRunner &runner, ThreadGovernor &governor,
                    const std::vector<std::vector<float>> &features, int64_t origin, int64_t lo, int64_t start, int64_t end,
                    int64_t hi, std::vector<float> &audio) {
    const int64_t channels = static_cast<int64_t>(features.size()), n = hi - lo, hop = m.hp.codec.hop_length();
    std::vector<float> slice(static_cast<size_t>(n * channels));
    for (int64_t c = 0; c < channels; c++) {
        std::copy_n(features[c].begin() + (lo - origin), n, slice.begin() + c * n);
    }
    ggml_tensor *x_in = nullptr, *out = nullptr;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        x_in = graph_input(ctx, GGML_TYPE_F32, n, channels);
        out = build_upsampling(ctx, m, x_in);
        ggml_set_output(out);
        ggml_build_forward_expand(graph, out);
    };
    auto inputs = [&] { ggml_backend_tensor_set(x_in, slice.data(), 0, ggml_nbytes(x_in)); };
    if (!governor.run([&] { return runner.run(build, inputs); })) {
        return false;
    }
    std::vector<float> samples(ggml_nelements(out));
    ggml_backend_tensor_get(out, samples.data(), 0, ggml_nbytes(out));
    audio.insert(audio.end(), samples.begin() + (start - lo) * hop, samples.begin() + (end - lo) * hop);
    return true;
}

// Drops the first `count` entries of each row.
template <typename T> void drop_front(std::vector<std::vector<T>> &rows, int64_t count) {
    for (std::vector<T> &row : rows) {
        row.erase(row.begin(), row.begin() + count);
    }
}

} // namespace

EncodecStream::EncodecStream(const MusicgenModel &m, const EncodecChunks &chunks)
    : chunks_(chunks), codes_(m.hp.codec.quantizers) {}

bool EncodecStream::push(const MusicgenModel &m, const int32_t *codes, int64_t frames, bool last, std::vector<float> &audio,
                         std::string &error) {
    const CodecHparams &hp = m.hp.codec;
    for (int64_t i = 0; i < frames * static_cast<int64_t>(hp.quantizers); i++) {
        if (codes[i] < 0 || codes[i] >= static_cast<int32_t>(hp.codebook_size)) {
            error = "EnCodec: code " + std::to_string(codes[i]) + " is outside the codebook";
            return false;
        }
    }
    for (uint32_t q = 0; q < hp.quantizers; q++) {
        codes_[q].insert(codes_[q].end(), codes + q * frames, codes + (q + 1) * frames);
    }
    received_ += frames;
    if (received_ == 0) {
        error = "EnCodec: no codes to decode";
        return false;
    }
    return frame_stage(m, last, error) && upsampling(m, last, audio, error);
}

// The frame stage in chunks, the LSTM's state carried from one to the next (the same result as
// one graph), so the unrolled graph stays small however long the stream; the first convolution
// sees kernel / 2 frames of each neighbour, so a frame is final once that many follow it.
bool EncodecStream::frame_stage(const MusicgenModel &m, bool last, std::string &error) {
    const CodecHparams &hp = m.hp.codec;
    const int64_t conv_halo = m.get("codec.dec.0.weight")->ne[0] / 2;
    const int64_t limit = last ? received_ : received_ - conv_halo;
    if (limit <= framed_) {
        return true;
    }
    const int64_t chunk_max = std::min(limit - framed_, chunks_.frame_stage > 0 ? chunks_.frame_stage : limit - framed_);
    // The LSTM unrolls into ~20 nodes per frame and layer.
    GraphRunner frame_runner({m.cpu}, static_cast<size_t>(chunk_max) * 20 * std::max<uint32_t>(hp.lstm_layers, 1) + 4096);
    OneThread one_thread(m.cpu, m.threads);
    while (framed_ < limit) {
        const int64_t start = framed_, end = std::min(limit, start + chunk_max);
        const int64_t lo = std::max<int64_t>(0, start - conv_halo), hi = std::min(received_, end + conv_halo), span = hi - lo;
        std::vector<int32_t> slice(static_cast<size_t>(span * hp.quantizers));
        for (uint32_t q = 0; q < hp.quantizers; q++) {
            std::copy_n(codes_[q].begin() + (lo - codes_origin_), span, slice.begin() + q * span);
        }
        ggml_tensor *codes_in = nullptr, *frame_out = nullptr;
        LstmState state_in, state_out;
        auto build_frames = [&](ggml_context *ctx, ggml_cgraph *graph) {
            codes_in = graph_input(ctx, GGML_TYPE_I32, span * hp.quantizers);
            state_in = LstmState{};
            for (size_t layer = 0; layer < carried_h_.size(); layer++) {
                state_in.h.push_back(graph_input(ctx, GGML_TYPE_F32, static_cast<int64_t>(carried_h_[layer].size()), 1));
                state_in.cell.push_back(graph_input(ctx, GGML_TYPE_F32, static_cast<int64_t>(carried_cell_[layer].size())));
            }
            frame_out = build_frame_stage(ctx, m, codes_in, end - start, start - lo, hi - end, state_in, state_out);
            ggml_set_output(frame_out);
            ggml_build_forward_expand(graph, frame_out);
            for (size_t layer = 0; layer < state_out.h.size(); layer++) {
                for (ggml_tensor *t : {state_out.h[layer], state_out.cell[layer]}) {
                    ggml_set_output(t);
                    ggml_build_forward_expand(graph, t);
                }
            }
        };
        auto frame_inputs = [&] {
            ggml_backend_tensor_set(codes_in, slice.data(), 0, ggml_nbytes(codes_in));
            for (size_t layer = 0; layer < state_in.h.size(); layer++) {
                ggml_backend_tensor_set(state_in.h[layer], carried_h_[layer].data(), 0, ggml_nbytes(state_in.h[layer]));
                ggml_backend_tensor_set(state_in.cell[layer], carried_cell_[layer].data(), 0, ggml_nbytes(state_in.cell[layer]));
            }
        };
        if (!frame_runner.run(build_frames, frame_inputs)) {
            error = "EnCodec: GGML could not compute the frame-rate stage";
            return false;
        }
        const int64_t channels = frame_out->ne[1], n = end - start;
        std::vector<float> chunk_features(static_cast<size_t>(ggml_nelements(frame_out))); // [channel][chunk frame]
        ggml_backend_tensor_get(frame_out, chunk_features.data(), 0, ggml_nbytes(frame_out));
        features_.resize(static_cast<size_t>(channels));
        for (int64_t c = 0; c < channels; c++) {
            features_[c].insert(features_[c].end(), chunk_features.begin() + c * n, chunk_features.begin() + (c + 1) * n);
        }
        auto read = [](ggml_tensor *t) {
            std::vector<float> values(static_cast<size_t>(ggml_nelements(t)));
            ggml_backend_tensor_get(t, values.data(), 0, ggml_nbytes(t));
            return values;
        };
        carried_h_.clear();
        carried_cell_.clear();
        for (size_t layer = 0; layer < state_out.h.size(); layer++) {
            carried_h_.push_back(read(state_out.h[layer]));
            carried_cell_.push_back(read(state_out.cell[layer]));
        }
        framed_ = end;
    }
    // Only the codes the next chunk's convolution still sees stay.
    const int64_t keep_from = std::max<int64_t>(0, framed_ - conv_halo);
    drop_front(codes_, keep_from - codes_origin_);
    codes_origin_ = keep_from;
    return true;
}

// Upsampling in chunks of frames with a halo on each side: the im2col buffers of the
// sample-rate convolutions stay small however long the stream; a frame's samples are final
// once kHaloFrames frames of features follow it.
bool EncodecStream::upsampling(const MusicgenModel &m, bool last, std::vector<float> &audio, std::string &error) {
    const int64_t limit = last ? framed_ : framed_ - kHaloFrames;
    if (limit <= upsampled_) {
        return true;
    }
    const int64_t chunk = chunks_.sample_rate_stage > 0 ? chunks_.sample_rate_stage : limit - upsampled_;
    GraphRunner runner(m.backends());
    ThreadGovernor governor(m.cpu, m.governed_threads());
    while (upsampled_ < limit) {
        const int64_t start = upsampled_, end = std::min(limit, start + chunk);
        const int64_t lo = std::max<int64_t>(0, start - kHaloFrames), hi = std::min(framed_, end + kHaloFrames);
        if (!upsample_chunk(m, runner, governor, features_, features_origin_, lo, start, end, hi, audio)) {
            error = "EnCodec: GGML could not compute the upsampling stage";
            return false;
        }
        upsampled_ = end;
    }
    const int64_t keep_from = std::max<int64_t>(0, upsampled_ - kHaloFrames);
    drop_front(features_, keep_from - features_origin_);
    features_origin_ = keep_from;
    return true;
}

ChannelStreams::ChannelStreams(const MusicgenModel &m, const EncodecChunks &chunks)
    : streams_(m.hp.decoder.audio_channels, EncodecStream(m, chunks)) {}

bool ChannelStreams::push(const MusicgenModel &m, const int32_t *codes, int64_t frames, bool last, std::vector<float> &audio,
                          std::string &error) {
    const size_t channels = streams_.size();
    if (channels == 1) {
        return streams_[0].push(m, codes, frames, last, audio, error);
    }
    std::vector<std::vector<float>> decoded(channels);
    std::vector<int32_t> own(static_cast<size_t>(frames) * m.hp.codec.quantizers);
    for (size_t c = 0; c < channels; c++) {
        // Channel c's codebooks are c, c + channels, ...: one per level.
        for (uint32_t level = 0; level < m.hp.codec.quantizers; level++) {
            const int32_t *book = codes + (level * channels + c) * frames;
            std::copy_n(book, frames, own.begin() + level * frames);
        }
        if (!streams_[c].push(m, own.data(), frames, last, decoded[c], error)) {
            return false;
        }
    }
    // Every channel got the same frames, so each has the same samples final.
    const size_t n = decoded[0].size();
    audio.reserve(audio.size() + n * channels);
    for (size_t i = 0; i < n; i++) {
        for (size_t c = 0; c < channels; c++) {
            audio.push_back(decoded[c][i]);
        }
    }
    return true;
}

bool encodec_decode(const MusicgenModel &m, const std::vector<int32_t> &codes, int64_t frames, const EncodecChunks &chunks,
                    std::vector<float> &audio, std::string &error) {
    if (frames <= 0 || codes.size() != static_cast<size_t>(frames) * m.hp.decoder.codebooks) {
        error = "EnCodec: expected " + std::to_string(m.hp.decoder.codebooks) + " codebooks x frames codes";
        return false;
    }
    ChannelStreams stream(m, chunks);
    audio.clear();
    return stream.push(m, codes.data(), frames, true, audio, error);
}

} // namespace lofi
