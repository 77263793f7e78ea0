#include "musicgen_tensors.h"

#include <algorithm>
#include <map>

#include "ggml.h"

namespace lofi {

namespace {

class Builder {
  public:
    void matrix(const std::string &name, std::vector<int64_t> ne) { out.push_back({name, std::move(ne), TensorKind::Matrix}); }
    void floats(const std::string &name, std::vector<int64_t> ne) { out.push_back({name, std::move(ne), TensorKind::Float}); }
    // A convolution: weight [kernel, in, out] (torch's [out, in, kernel]) and bias [out].
    void conv(const std::string &prefix, int64_t kernel, int64_t in, int64_t out_channels) {
        floats(prefix + ".weight", {kernel, in, out_channels});
        floats(prefix + ".bias", {out_channels});
    }
    std::vector<ExpectedTensor> out;
};

void t5_tensors(const T5Hparams &t5, Builder &b) {
    const int64_t d = t5.width, inner = int64_t(t5.heads) * t5.key_length;
    b.matrix("t5.token_embd.weight", {d, t5.vocab_size});
    b.floats("t5.blk.0.attn_rel_b.weight", {t5.heads, t5.buckets});
    for (uint32_t i = 0; i < t5.layers; i++) {
        const std::string p = "t5.blk." + std::to_string(i) + ".";
        b.floats(p + "attn_norm.weight", {d});
        for (const char *m : {"attn_q", "attn_k", "attn_v"}) {
            b.matrix(p + m + ".weight", {d, inner});
        }
        b.matrix(p + "attn_o.weight", {inner, d});
        b.floats(p + "ffn_norm.weight", {d});
        b.matrix(p + "ffn_up.weight", {d, t5.ffn_length});
        if (t5.gated_ffn) {
            b.matrix(p + "ffn_gate.weight", {d, t5.ffn_length});
        }
        b.matrix(p + "ffn_down.weight", {t5.ffn_length, d});
    }
    b.floats("t5.output_norm.weight", {d});
}

void decoder_tensors(const DecoderHparams &dec, Builder &b) {
    const int64_t w = dec.width;
    for (uint32_t k = 0; k < dec.codebooks; k++) {
        b.matrix("dec.tok_embd." + std::to_string(k) + ".weight", {w, int64_t(dec.codebook_size) + 1});
        b.matrix("dec.output." + std::to_string(k) + ".weight", {w, dec.codebook_size});
    }
    for (uint32_t i = 0; i < dec.layers; i++) {
        const std::string p = "dec.blk." + std::to_string(i) + ".";
        for (const char *norm : {"attn_norm", "cross_attn_norm", "ffn_norm"}) {
            b.floats(p + norm + ".weight", {w});
            b.floats(p + norm + ".bias", {w});
        }
        for (const char *m : {"attn_q", "attn_k", "attn_v", "attn_o", "cross_attn_q", "cross_attn_k", "cross_attn_v", "cross_attn_o"}) {
            b.matrix(p + m + ".weight", {w, w});
        }
        b.matrix(p + "ffn_up.weight", {w, dec.ffn_length});
        b.matrix(p + "ffn_down.weight", {dec.ffn_length, w});
    }
    b.floats("dec.output_norm.weight", {w});
    b.floats("dec.output_norm.bias", {w});
}

// EnCodec's SEANet decoder, numbered as transformers' EncodecDecoder.layers (ELUs hold no weights).
// MusicGen's EnCodec is mono; a stereo model decodes each channel with it.
void codec_tensors(const CodecHparams &c, Builder &b) {
    for (uint32_t q = 0; q < c.quantizers; q++) {
        b.floats("codec.vq." + std::to_string(q) + ".embd", {c.codebook_dim, c.codebook_size});
    }
    int64_t channels = int64_t(c.num_filters) << c.upsampling_ratios.size();
    int index = 0;
    auto layer = [&](int i) { return "codec.dec." + std::to_string(i); };
    b.conv(layer(index++), c.kernel_size, c.hidden_size, channels);
    const std::string lstm = layer(index++) + ".lstm.";
    for (uint32_t n = 0; n < c.lstm_layers; n++) {
        const std::string l = "_l" + std::to_string(n);
        b.matrix(lstm + "weight_ih" + l, {channels, 4 * channels}); // matrix-vector products: Q8_0 in quantized files
        b.matrix(lstm + "weight_hh" + l, {channels, 4 * channels});
        b.floats(lstm + "bias_ih" + l, {4 * channels});
        b.floats(lstm + "bias_hh" + l, {4 * channels});
    }
    for (uint32_t ratio : c.upsampling_ratios) {
        index++; // ELU
        // ConvTranspose1d weight is [in, out, kernel] in torch: ne [kernel, out, in].
        b.floats(layer(index) + ".weight", {2 * int64_t(ratio), channels / 2, channels});
        b.floats(layer(index++) + ".bias", {channels / 2});
        channels /= 2;
        for (uint32_t j = 0; j < c.residual_layers; j++) {
            const std::string block = layer(index++);
            const int64_t hidden = channels / c.compress;
            b.conv(block + ".block.1", c.residual_kernel_size, channels, hidden);
            b.conv(block + ".block.3", 1, hidden, channels);
            if (c.conv_shortcut) {
                b.conv(block + ".shortcut", 1, channels, channels);
            }
        }
    }
    index++; // ELU
    b.conv(layer(index), c.last_kernel_size, c.num_filters, 1);
}

std::string shape_string(const int64_t *ne, size_t n) {
    std::string out = "[";
    for (size_t d = 0; d < n; d++) {
        out += (d ? ", " : "") + std::to_string(ne[d]);
    }
    return out + "]";
}

bool type_allowed(ggml_type type, TensorKind kind) {
    if (type == GGML_TYPE_F32 || type == GGML_TYPE_F16) {
        return true;
    }
    return kind == TensorKind::Matrix && ggml_is_quantized(type);
}

} // namespace

bool check_tensors(const lofi_gguf &file, const MusicgenHparams &hp, std::string &error) {
    auto expected = expected_tensors(hp);
    std::map<std::string, const ExpectedTensor *> by_name;
    for (const auto &t : expected) {
        by_name[t.name] = &t;
    }
    for (int64_t i = 0; i < gguf_get_n_tensors(file.ctx); i++) {
        const char *name = gguf_get_tensor_name(file.ctx, i);
        auto found = by_name.find(name);
        if (found == by_name.end()) {
            error = std::string("unexpected tensor '") + name + "'";
            return false;
        }
        const ExpectedTensor &want = *found->second;
        const ggml_tensor *tensor = ggml_get_tensor(file.meta, name);
        int64_t want_ne[4] = {1, 1, 1, 1};
        std::copy(want.ne.begin(), want.ne.end(), want_ne);
        if (!std::equal(want_ne, want_ne + 4, tensor->ne)) {
            error = std::string("tensor '") + name + "' has shape " + shape_string(tensor->ne, ggml_n_dims(tensor)) +
                    ", expected " + shape_string(want.ne.data(), want.ne.size());
            return false;
        }
        if (!type_allowed(tensor->type, want.kind)) {
            error = std::string("tensor '") + name + "' has type " + ggml_type_name(tensor->type) + ", which the engine cannot use there";
            return false;
        }
        by_name.erase(found);
    }
    if (!by_name.empty()) {
        error = "missing tensor '" + by_name.begin()->first + "'" +
                (by_name.size() > 1 ? " and " + std::to_string(by_name.size() - 1) + " more" : "");
        return false;
    }
    return true;
}

std::vector<ExpectedTensor> expected_tensors(const MusicgenHparams &hp) {
    Builder b;
    t5_tensors(hp.t5, b);
    b.matrix("proj.weight", {hp.t5.width, hp.decoder.width});
    b.floats("proj.bias", {hp.decoder.width});
    decoder_tensors(hp.decoder, b);
    codec_tensors(hp.codec, b);
    return b.out;
}

} // namespace lofi
