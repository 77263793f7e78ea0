#include "encodec_decoder.h"

#include <cstring>

#include "conv_tap_sum.h"
#include "elu_kernel.h"
#include "graph_runner.h"
#include "lstm_cell.h"
#include "thread_governor.h"

namespace lofi {

namespace {

// EnCodec's activations are [channels, time] (a time step's channels contiguous): the matrix
// products of the convolutions then read them as they are, with no im2col copy.

// Column `i` of x: [channels, time].
ggml_tensor *column(ggml_context *ctx, ggml_tensor *x, int64_t i) { return ggml_view_2d(ctx, x, x->ne[0], 1, x->nb[1], i * x->nb[1]); }

// Reflect padding in time as transformers' EncodecConv1d._pad1d, which zero-extends first when
// the input is not longer than the padding.
ggml_tensor *reflect_pad(ggml_context *ctx, ggml_tensor *x, int64_t left, int64_t right) {
    const int64_t length = x->ne[1], extra = reflect_pad_extension(length, left, right);
    ggml_tensor *source = extra > 0 ? ggml_pad_ext(ctx, x, 0, 0, 0, static_cast<int>(extra), 0, 0, 0, 0) : x;
    const int64_t extended = length + extra;
    ggml_tensor *before = nullptr, *after = nullptr; // source columns left, ..., 1 and extended - 2, ...
    for (int64_t i = 1; i <= left; i++) {
        before = before == nullptr ? column(ctx, source, i) : ggml_concat(ctx, column(ctx, source, i), before, 1);
    }
    for (int64_t i = 1; i <= right; i++) {
        after = after == nullptr ? column(ctx, source, extended - 1 - i) : ggml_concat(ctx, after, column(ctx, source, extended - 1 - i), 1);
    }
    ggml_tensor *padded = before == nullptr ? source : ggml_concat(ctx, before, source, 1);
    padded = after == nullptr ? padded : ggml_concat(ctx, padded, after, 1);
    return extra > 0 ? ggml_view_2d(ctx, padded, padded->ne[0], left + length + right, padded->nb[1], 0) : padded;
}

// Adds the per-channel bias to y: [channels, time].
ggml_tensor *add_bias(ggml_context *ctx, ggml_tensor *y, ggml_tensor *bias) {
    return ggml_add(ctx, y, ggml_reshape_2d(ctx, bias, bias->ne[0], 1));
}

// Non-causal convolution (reflect-padded), x: [in, time], weight: [kernel, in, out] ->
// [out, time]. One matrix product gives every tap's contribution at every step ([out * kernel,
// time]); each output step sums its taps at their offsets: on the CPU in one node that pads the
// products instead of the input (conv_tap_sum.h), elsewhere through GGML's ops over the padded
// input. (An im2col copy is kernel x in x time: 73 MB for the last convolution of a 64-frame
// chunk.)
ggml_tensor *conv1d(ggml_context *ctx, CodecWeights &weights, ggml_tensor *x, ggml_tensor *weight, ggml_tensor *bias, bool cpu_kernels,
                    int dilation = 1) {
    const int64_t kernel = weight->ne[0], in = weight->ne[1], out = weight->ne[2];
    if (kernel == 1) {
        return add_bias(ctx, ggml_mul_mat(ctx, ggml_reshape_2d(ctx, weight, in, out), x), bias);
    }
    const int64_t total = (kernel - 1) * dilation, right = total / 2, length = x->ne[1];
    if (cpu_kernels) {
        return conv_tap_sum(ctx, ggml_mul_mat(ctx, weights.conv_taps(ctx, weight), x), bias, kernel, dilation, total - right, right);
    }
    ggml_tensor *taps = ggml_mul_mat(ctx, weights.conv_taps(ctx, weight), reflect_pad(ctx, x, total - right, right)); // [out * kernel, time + total]
    ggml_tensor *y = nullptr;
    for (int64_t k = 0; k < kernel; k++) {
        const size_t offset = k * out * ggml_element_size(taps) + k * dilation * taps->nb[1];
        ggml_tensor *tap = ggml_view_2d(ctx, taps, out, length, taps->nb[1], offset);
        y = y == nullptr ? tap : ggml_add(ctx, y, tap);
    }
    return add_bias(ctx, y, bias);
}

// The transposed convolution's input on the CPU: column j of [2 in, frames + 1] stacks ELU of
// frame j on ELU of frame j - 1, zero frames before the first and after the last, in the
// weight's type. One node where GGML's ops took four (ELU, a pad, two views concatenated), each
// a copy of the input, and the product a fifth converting it to F16.
void stacked_frames_op(ggml_tensor *dst, int ith, int nth, void *) {
    const ggml_tensor *x = dst->src[0];
    const int64_t in = x->ne[0], frames = x->ne[1];
    const size_t half_bytes = static_cast<size_t>(in) * ggml_element_size(dst);
    for (int64_t j = ith; j < dst->ne[1]; j += nth) {
        for (int64_t half = 0; half < 2; half++) {
            const int64_t frame = j - half;
            char *out = static_cast<char *>(dst->data) + j * dst->nb[1] + half * half_bytes;
            if (frame < 0 || frame >= frames) {
                std::memset(out, 0, half_bytes);
            } else {
                elu_values_as(reinterpret_cast<const float *>(static_cast<const char *>(x->data) + frame * x->nb[1]), out, in, dst->type);
            }
        }
    }
}

// ELU(x) framed for the transposed convolution: [2 in, frames + 1], column j frame j over frame
// j - 1, with a zero frame before and after.
ggml_tensor *stacked_frames(ggml_context *ctx, ggml_tensor *x, ggml_type type, bool cpu_kernels) {
    if (elu_kernel_applies(x, cpu_kernels)) {
        return ggml_set_name(ggml_custom_4d(ctx, elu_kernel_type(type), 2 * x->ne[0], x->ne[1] + 1, 1, 1, &x, 1, stacked_frames_op,
                                            GGML_N_TASKS_MAX, nullptr),
                             "elu, stacked frames");
    }
    ggml_tensor *framed = ggml_pad_ext(ctx, elu(ctx, x, cpu_kernels), 0, 0, 1, 1, 0, 0, 0, 0); // a zero frame before and after
    const int64_t in = x->ne[0], columns = framed->ne[1] - 1;
    ggml_tensor *current = ggml_view_2d(ctx, framed, in, columns, framed->nb[1], framed->nb[1]);
    ggml_tensor *previous = ggml_view_2d(ctx, framed, in, columns, framed->nb[1], 0);
    return ggml_concat(ctx, current, previous, 0);
}

// ConvTranspose1d with stride s and kernel 2s (the shape checks guarantee it) of ELU(x), trimmed
// as EncodecConvTranspose1d (non-causal), x: [in, frames] -> [out, (frames - 1) * s + s]. Output
// step f * s + p sums tap p of frame f and tap s + p of frame f - 1, so one matrix product over
// each frame stacked on the one before ([2 in, frames + 1]) gives every output step in order:
// no overlap-add. (GGML's conv_transpose_1d is a loop of dot products, several times slower.)
ggml_tensor *conv_transpose(ggml_context *ctx, CodecWeights &weights, ggml_tensor *x, ggml_tensor *weight, ggml_tensor *bias, int stride,
                            bool cpu_kernels) {
    const int64_t s = stride, out = weight->ne[1];
    ggml_tensor *stacked = stacked_frames(ctx, x, weight->type, cpu_kernels);
    const int64_t columns = stacked->ne[1];
    ggml_tensor *y = ggml_mul_mat(ctx, weights.transposed_taps(ctx, weight), stacked); // [out * s, frames + 1]
    y = ggml_reshape_2d(ctx, y, out, s * columns);
    const int64_t total = s, right = total / 2, left = total - right;
    // The bias added in place: a copy of the trimmed product would sit beside it.
    return ggml_add_inplace(ctx, ggml_view_2d(ctx, y, out, y->ne[1] - total, y->nb[1], left * y->nb[1]), ggml_reshape_2d(ctx, bias, bias->ne[0], 1));
}

// A mapped weight, handed back by a node of the graph once its last product has run.
struct MappedWeight {
    const MusicgenModel *model;
    ggml_tensor *weight;
};

void release_weight_op(ggml_tensor *, int ith, int, void *userdata) {
    if (ith == 0) {
        const auto &mapped = *static_cast<const MappedWeight *>(userdata);
        release_mapped_weight(*mapped.model, mapped.weight);
    }
}

// PyTorch's multi-layer LSTM over x: [channels, time] plus the skip connection EncodecLSTM adds.
// `runs`: per layer, an input [channels, time + 2] holding the state before x (lstm_cell.h),
// which then holds the outputs and the state after. W_ih·x for every step at once, then per step
// W_hh·h and the cell in one node each. Each matrix is handed back once its last product has run
// (`mapped`: alive while the graph computes): a stream's chunk runs beside the decoder's weights
// and cache, and so holds about one matrix (4.5 MB in a quantized musicgen-small) instead of all
// four; the next chunk reads them again from the page cache (a few ms of page faults).
ggml_tensor *lstm(ggml_context *ctx, ggml_cgraph *graph, const MusicgenModel &m, const std::string &prefix, ggml_tensor *x,
                  const std::vector<ggml_tensor *> &runs, std::vector<MappedWeight> &mapped) {
    const int64_t c = x->ne[0], steps = x->ne[1];
    mapped.assign(2 * m.hp.codec.lstm_layers, MappedWeight{&m, nullptr}); // sized once: the nodes point into it
    // Expanded when called, the node follows `after` and precedes what is built next.
    auto release_after = [&](ggml_tensor *after, ggml_tensor *weight, MappedWeight &slot) {
        slot.weight = weight;
        ggml_build_forward_expand(
            graph, ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_F32, 1, 1, 1, 1, &after, 1, release_weight_op, 1, &slot), "release weight"));
    };
    ggml_tensor *input = x;
    for (uint32_t layer = 0; layer < m.hp.codec.lstm_layers; layer++) {
        const std::string l = "_l" + std::to_string(layer);
        ggml_tensor *w_ih = m.get(prefix + "weight_ih" + l), *w_hh = m.get(prefix + "weight_hh" + l);
        ggml_tensor *bias = ggml_add(ctx, m.get(prefix + "bias_ih" + l), m.get(prefix + "bias_hh" + l));
        ggml_tensor *gates_x = ggml_add(ctx, ggml_mul_mat(ctx, w_ih, input), bias); // [4c, time]
        release_after(gates_x, w_ih, mapped[2 * layer]);
        ggml_tensor *run = runs[layer];
        for (int64_t t = 0; t < steps; t++) {
            ggml_tensor *h = ggml_view_2d(ctx, run, c, 1, run->nb[1], t * run->nb[1]);
            run = lstm_step(ctx, run, ggml_view_1d(ctx, gates_x, 4 * c, t * gates_x->nb[1]), ggml_mul_mat(ctx, w_hh, h), t);
        }
        release_after(run, w_hh, mapped[2 * layer + 1]);
        input = ggml_view_2d(ctx, run, c, steps, run->nb[1], run->nb[1]);
    }
    return ggml_add(ctx, input, x);
}

// Frame rate for `frames` frames whose codes come with `halo` frames of context on each side
// (codes_in: [codebook][halo + frames + halo]): residual VQ (the sum of each codebook's vectors),
// first convolution (the halo makes it see the neighbouring chunks), LSTM over `lstm_runs`.
// Returns [channels, frames].
ggml_tensor *build_frame_stage(ggml_context *ctx, ggml_cgraph *graph, const MusicgenModel &m, CodecWeights &weights, ggml_tensor *codes_in,
                               int64_t frames, int64_t halo_before, int64_t halo_after, const std::vector<ggml_tensor *> &lstm_runs,
                               std::vector<MappedWeight> &lstm_mapped) {
    const CodecHparams &hp = m.hp.codec;
    const int64_t span = halo_before + frames + halo_after;
    ggml_tensor *emb = nullptr; // [dim, span]
    for (uint32_t q = 0; q < hp.quantizers; q++) {
        ggml_tensor *rows = ggml_get_rows(ctx, m.codebooks[q], ggml_view_1d(ctx, codes_in, span, q * span * sizeof(int32_t)));
        emb = emb == nullptr ? rows : ggml_add(ctx, emb, rows);
    }
    ggml_tensor *x = conv1d(ctx, weights, emb, m.get("codec.dec.0.weight"), m.get("codec.dec.0.bias"), /*cpu_kernels =*/true);
    x = ggml_view_2d(ctx, x, x->ne[0], frames, x->nb[1], halo_before * x->nb[1]); // the chunk's own frames
    return lstm(ctx, graph, m, "codec.dec.1.lstm.", x, lstm_runs, lstm_mapped);
}

// Upsampling: [ELU, transposed conv, residual blocks] per ratio, ELU, last convolution.
// x: [channels, frames] -> [audio channels, samples].
ggml_tensor *build_upsampling(ggml_context *ctx, const MusicgenModel &m, CodecWeights &weights, ggml_tensor *x) {
    const CodecHparams &hp = m.hp.codec;
    const bool cpu_kernels = m.accelerator == nullptr;
    auto layer = [&](int i, const std::string &part) { return m.get("codec.dec." + std::to_string(i) + part); };
    // A convolution's input in its weight's type where that is F16 (elu_kernel.h): the largest
    // intermediates are these inputs at the sample rate. (A transposed convolution makes its own
    // input: stacked_frames.)
    auto elu_for = [&](ggml_tensor *input, ggml_tensor *weight) { return elu(ctx, input, cpu_kernels, weight->type); };
    int index = 2; // after the first convolution and the LSTM
    for (uint32_t ratio : hp.upsampling_ratios) {
        index++; // ELU
        x = conv_transpose(ctx, weights, x, layer(index, ".weight"), layer(index, ".bias"), static_cast<int>(ratio), cpu_kernels);
        index++;
        for (uint32_t j = 0, dilation = 1; j < hp.residual_layers; j++, dilation *= hp.dilation_growth) {
            const std::string block = ".block.";
            ggml_tensor *w1 = layer(index, block + "1.weight"), *w3 = layer(index, block + "3.weight");
            ggml_tensor *y = conv1d(ctx, weights, elu_for(x, w1), w1, layer(index, block + "1.bias"), cpu_kernels, static_cast<int>(dilation));
            y = conv1d(ctx, weights, elu_for(y, w3), w3, layer(index, block + "3.bias"), cpu_kernels);
            ggml_tensor *shortcut = hp.conv_shortcut ? conv1d(ctx, weights, x, layer(index, ".shortcut.weight"), layer(index, ".shortcut.bias"), cpu_kernels) : x;
            x = ggml_add(ctx, shortcut, y);
            index++;
        }
    }
    index++; // ELU
    return conv1d(ctx, weights, elu_for(x, layer(index, ".weight")), layer(index, ".weight"), layer(index, ".bias"), cpu_kernels);
}

// Frames of context on each side of an upsampling chunk: twice the stack's reach (one frame:
// a halo of 1 already matches the unchunked result, 0 does not), so every kept sample equals
// the unchunked result. Each frame of halo costs 2/64 more upsampling work.
constexpr int64_t kHaloFrames = 2;

// Upsampling chunk [start, end) of the stream's features ([frame - origin][channel]), with
// frames [lo, start) and [end, hi) as context.
bool upsample_chunk(const MusicgenModel &m, CodecWeights &weights, GraphRunner &runner, ThreadGovernor &governor, const std::vector<float> &features,
                    int64_t channels, int64_t origin, int64_t lo, int64_t start, int64_t end, int64_t hi, std::vector<float> &audio) {
    const int64_t n = hi - lo, hop = m.hp.codec.hop_length();
    const float *slice = features.data() + (lo - origin) * channels;
    ggml_tensor *x_in = nullptr, *out = nullptr;
    auto build = [&](ggml_context *ctx, ggml_cgraph *graph) {
        x_in = graph_input(ctx, GGML_TYPE_F32, channels, n);
        out = build_upsampling(ctx, m, weights, x_in);
        ggml_set_output(out);
        ggml_build_forward_expand(graph, out);
    };
    auto inputs = [&] { ggml_backend_tensor_set(x_in, slice, 0, ggml_nbytes(x_in)); };
    if (!governor.run([&] { return runner.run(build, inputs); })) {
        return false;
    }
    std::vector<float> samples(ggml_nelements(out));
    ggml_backend_tensor_get(out, samples.data(), 0, ggml_nbytes(out));
    audio.insert(audio.end(), samples.begin() + (start - lo) * hop, samples.begin() + (end - lo) * hop);
    return true;
}

// Drops the first `count` entries of each row.
void drop_front(std::vector<std::vector<int32_t>> &rows, int64_t count) {
    for (std::vector<int32_t> &row : rows) {
        row.erase(row.begin(), row.begin() + count);
    }
}

} // namespace

EncodecStream::EncodecStream(const MusicgenModel &m, const EncodecChunks &chunks, std::shared_ptr<CodecWeights> weights)
    : chunks_(chunks), weights_(std::move(weights)), codes_(m.hp.codec.quantizers) {}

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
    if (!frame_stage(m, last, error)) {
        return false;
    }
    // The codebooks' rows (4.2 MB in musicgen-small) are read again by the next push's frame
    // stage only: handed back, they are not in the upsampling's peak beside the decoder.
    for (ggml_tensor *codebook : m.codebooks) {
        release_mapped_weight(m, codebook);
    }
    return upsampling(m, last, audio, error);
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
    const int64_t channels = hp.lstm_layers > 0 ? m.get("codec.dec.1.lstm.weight_hh_l0")->ne[0] : 0;
    // The LSTM unrolls into 2 nodes per frame and layer (plus a few views).
    GraphRunner frame_runner({m.cpu}, static_cast<size_t>(chunk_max) * 6 * std::max<uint32_t>(hp.lstm_layers, 1) + 4096);
    ThreadGovernor governor(m.cpu, m.governed_threads());
    if (lstm_state_.empty()) { // zeros before the first frame
        lstm_state_.assign(hp.lstm_layers, std::vector<float>(static_cast<size_t>(2 * channels), 0.0f));
    }
    while (framed_ < limit) {
        const int64_t start = framed_, end = std::min(limit, start + chunk_max), frames = end - start;
        const int64_t lo = std::max<int64_t>(0, start - conv_halo), hi = std::min(received_, end + conv_halo), span = hi - lo;
        std::vector<int32_t> slice(static_cast<size_t>(span * hp.quantizers));
        for (uint32_t q = 0; q < hp.quantizers; q++) {
            std::copy_n(codes_[q].begin() + (lo - codes_origin_), span, slice.begin() + q * span);
        }
        ggml_tensor *codes_in = nullptr, *frame_out = nullptr;
        std::vector<ggml_tensor *> runs; // per LSTM layer (lstm_cell.h): its state is read back from them
        std::vector<MappedWeight> lstm_mapped;
        const size_t column_bytes = static_cast<size_t>(channels) * sizeof(float);
        auto build_frames = [&](ggml_context *ctx, ggml_cgraph *graph) {
            codes_in = graph_input(ctx, GGML_TYPE_I32, span * hp.quantizers);
            runs.clear();
            for (uint32_t layer = 0; layer < hp.lstm_layers; layer++) {
                runs.push_back(graph_input(ctx, GGML_TYPE_F32, channels, frames + 2));
                ggml_set_output(runs.back()); // never reused by the allocator: the state is read after
            }
            frame_out = build_frame_stage(ctx, graph, m, *weights_, codes_in, frames, start - lo, hi - end, runs, lstm_mapped);
            ggml_set_output(frame_out);
            ggml_build_forward_expand(graph, frame_out);
        };
        auto frame_inputs = [&] {
            ggml_backend_tensor_set(codes_in, slice.data(), 0, ggml_nbytes(codes_in));
            for (size_t layer = 0; layer < runs.size(); layer++) { // the output before the chunk, the cell
                ggml_backend_tensor_set(runs[layer], lstm_state_[layer].data(), 0, column_bytes);
                ggml_backend_tensor_set(runs[layer], lstm_state_[layer].data() + channels, (frames + 1) * column_bytes, column_bytes);
            }
        };
        if (!governor.run([&] { return frame_runner.run(build_frames, frame_inputs); })) {
            error = "EnCodec: GGML could not compute the frame-rate stage";
            return false;
        }
        feature_channels_ = frame_out->ne[0];
        const size_t before = features_.size();
        features_.resize(before + static_cast<size_t>(ggml_nelements(frame_out)));
        ggml_backend_tensor_get(frame_out, features_.data() + before, 0, ggml_nbytes(frame_out));
        for (size_t layer = 0; layer < runs.size(); layer++) { // the last output and the cell: columns frames, frames + 1
            ggml_backend_tensor_get(runs[layer], lstm_state_[layer].data(), frames * column_bytes, 2 * column_bytes);
        }
        framed_ = end;
    }
    // Only the codes the next chunk's convolution still sees stay.
    const int64_t keep_from = std::max<int64_t>(0, framed_ - conv_halo);
    drop_front(codes_, keep_from - codes_origin_);
    codes_origin_ = keep_from;
    return true;
}

// Upsampling in chunks of frames with a halo on each side: the intermediates of the
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
        if (!upsample_chunk(m, *weights_, runner, governor, features_, feature_channels_, features_origin_, lo, start, end, hi, audio)) {
            error = "EnCodec: GGML could not compute the upsampling stage";
            return false;
        }
        upsampled_ = end;
    }
    const int64_t keep_from = std::max<int64_t>(0, upsampled_ - kHaloFrames);
    features_.erase(features_.begin(), features_.begin() + (keep_from - features_origin_) * feature_channels_);
    features_origin_ = keep_from;
    return true;
}

ChannelStreams::ChannelStreams(const MusicgenModel &m, const EncodecChunks &chunks)
    : streams_(m.hp.decoder.audio_channels, EncodecStream(m, chunks, std::make_shared<CodecWeights>(m))) {}

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
