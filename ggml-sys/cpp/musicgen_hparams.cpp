#include "musicgen_hparams.h"

#include <functional>
#include <numeric>
#include <stdexcept>

namespace lofi {

uint32_t CodecHparams::hop_length() const {
    return std::accumulate(upsampling_ratios.begin(), upsampling_ratios.end(), 1u, std::multiplies<>());
}

namespace {

struct MissingKey : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Typed getters that check before GGML's own (which abort on a type mismatch).
class Reader {
  public:
    explicit Reader(const gguf_context *ctx) : ctx_(ctx) {}

    int64_t find(const std::string &key, gguf_type want) const {
        int64_t id = gguf_find_key(ctx_, key.c_str());
        if (id < 0) {
            throw MissingKey("missing key " + key);
        }
        gguf_type type = gguf_get_kv_type(ctx_, id);
        bool integer_ok = want == GGUF_TYPE_UINT32 && type == GGUF_TYPE_INT32;
        if (type != want && !integer_ok) {
            throw MissingKey("key " + key + " has type " + gguf_type_name(type) + ", expected " + gguf_type_name(want));
        }
        return id;
    }
    uint32_t u32(const std::string &key) const {
        int64_t id = find(key, GGUF_TYPE_UINT32);
        if (gguf_get_kv_type(ctx_, id) == GGUF_TYPE_INT32) {
            int32_t v = gguf_get_val_i32(ctx_, id);
            if (v < 0) {
                throw MissingKey("key " + key + " is negative");
            }
            return static_cast<uint32_t>(v);
        }
        return gguf_get_val_u32(ctx_, id);
    }
    uint32_t positive(const std::string &key) const {
        uint32_t v = u32(key);
        if (v == 0 || v > (1u << 24)) {
            throw MissingKey("key " + key + " has an impossible value " + std::to_string(v));
        }
        return v;
    }
    float f32(const std::string &key) const { return gguf_get_val_f32(ctx_, find(key, GGUF_TYPE_FLOAT32)); }
    bool flag(const std::string &key) const { return gguf_get_val_bool(ctx_, find(key, GGUF_TYPE_BOOL)); }
    std::string str(const std::string &key) const { return gguf_get_val_str(ctx_, find(key, GGUF_TYPE_STRING)); }
    std::vector<uint32_t> u32_array(const std::string &key) const {
        int64_t id = find(key, GGUF_TYPE_ARRAY);
        gguf_type type = gguf_get_arr_type(ctx_, id);
        if (type != GGUF_TYPE_INT32 && type != GGUF_TYPE_UINT32) {
            throw MissingKey("key " + key + " is not an integer array");
        }
        const auto *data = static_cast<const int32_t *>(gguf_get_arr_data(ctx_, id));
        std::vector<uint32_t> out;
        for (size_t i = 0; i < gguf_get_arr_n(ctx_, id); i++) {
            if (data[i] <= 0) {
                throw MissingKey("key " + key + " holds a non-positive value");
            }
            out.push_back(static_cast<uint32_t>(data[i]));
        }
        return out;
    }
    size_t array_length(const std::string &key, gguf_type element) const {
        int64_t id = find(key, GGUF_TYPE_ARRAY);
        if (gguf_get_arr_type(ctx_, id) != element) {
            throw MissingKey("key " + key + " holds " + gguf_type_name(gguf_get_arr_type(ctx_, id)) + " values");
        }
        return gguf_get_arr_n(ctx_, id);
    }

  private:
    const gguf_context *ctx_;
};

void read_t5(const Reader &r, T5Hparams &t5) {
    const std::string p = "musicgen.text_encoder.";
    t5.vocab_size = r.positive(p + "vocab_size");
    t5.width = r.positive(p + "embedding_length");
    t5.key_length = r.positive(p + "key_length");
    t5.ffn_length = r.positive(p + "feed_forward_length");
    t5.layers = r.positive(p + "block_count");
    t5.heads = r.positive(p + "head_count");
    t5.buckets = r.positive(p + "relative_buckets_count");
    t5.max_distance = r.positive(p + "relative_max_distance");
    t5.rms_epsilon = r.f32(p + "layer_norm_rms_epsilon");
    std::string proj = r.str(p + "feed_forward_proj");
    if (proj != "relu" && proj != "gated-gelu") {
        throw MissingKey("unsupported T5 feed_forward_proj '" + proj + "'");
    }
    t5.gated_ffn = proj == "gated-gelu";
}

void read_decoder(const Reader &r, DecoderHparams &dec) {
    const std::string p = "musicgen.decoder.";
    dec.width = r.positive(p + "embedding_length");
    dec.ffn_length = r.positive(p + "feed_forward_length");
    dec.layers = r.positive(p + "block_count");
    dec.heads = r.positive(p + "head_count");
    dec.codebooks = r.positive(p + "codebook_count");
    dec.codebook_size = r.positive(p + "codebook_size");
    dec.context_length = r.positive(p + "context_length");
    dec.pad_token = r.u32(p + "pad_token_id");
    dec.start_token = r.u32(p + "start_token_id");
    dec.norm_epsilon = r.f32(p + "layer_norm_epsilon");
    dec.scale_embedding = r.flag(p + "scale_embedding");
    if (r.str(p + "activation") != "gelu") {
        throw MissingKey("unsupported decoder activation '" + r.str(p + "activation") + "'");
    }
    if (dec.width % dec.heads != 0) {
        throw MissingKey("decoder width is not a multiple of its head count");
    }
    if (dec.pad_token > dec.codebook_size || dec.start_token > dec.codebook_size) {
        throw MissingKey("decoder pad/start token lies outside the embedding table");
    }
}

void read_codec(const Reader &r, CodecHparams &codec) {
    const std::string p = "musicgen.codec.";
    codec.codebook_size = r.positive(p + "codebook_size");
    codec.codebook_dim = r.positive(p + "codebook_dim");
    codec.quantizers = r.positive(p + "quantizer_count");
    codec.hidden_size = r.positive(p + "hidden_size");
    codec.num_filters = r.positive(p + "num_filters");
    codec.upsampling_ratios = r.u32_array(p + "upsampling_ratios");
    codec.residual_layers = r.u32(p + "residual_layer_count");
    codec.dilation_growth = r.positive(p + "dilation_growth_rate");
    codec.kernel_size = r.positive(p + "kernel_size");
    codec.last_kernel_size = r.positive(p + "last_kernel_size");
    codec.residual_kernel_size = r.positive(p + "residual_kernel_size");
    codec.compress = r.positive(p + "compress");
    codec.lstm_layers = r.u32(p + "lstm_layer_count");
    codec.conv_shortcut = r.flag(p + "use_conv_shortcut");
    codec.causal = r.flag(p + "use_causal_conv");
    codec.pad_mode = r.str(p + "pad_mode");
    codec.trim_right_ratio = r.f32(p + "trim_right_ratio");
    if (codec.upsampling_ratios.empty() || codec.upsampling_ratios.size() > 8) {
        throw MissingKey("codec upsampling_ratios must hold 1 to 8 values");
    }
    if (codec.hidden_size != codec.codebook_dim) {
        throw MissingKey("codec codebook_dim differs from its hidden_size");
    }
    uint32_t widest = codec.num_filters << codec.upsampling_ratios.size();
    for (uint32_t level = 0; level < codec.upsampling_ratios.size(); level++) {
        if (((widest >> level) / 2) % codec.compress != 0) {
            throw MissingKey("codec channel counts are not divisible by compress");
        }
    }
}

} // namespace

bool read_hparams(const gguf_context *ctx, MusicgenHparams &hp, std::string &error) {
    try {
        Reader r(ctx);
        std::string arch = r.str("general.architecture");
        if (arch != "musicgen") {
            error = "architecture is '" + arch + "', not 'musicgen'";
            return false;
        }
        hp.name = gguf_find_key(ctx, "general.name") >= 0 ? r.str("general.name") : "unnamed";
        hp.sample_rate = r.positive("musicgen.sample_rate");
        hp.frame_rate = r.positive("musicgen.frame_rate");
        read_t5(r, hp.t5);
        read_decoder(r, hp.decoder);
        read_codec(r, hp.codec);
        const uint32_t channels = r.positive("musicgen.audio_channels");
        if (channels > 2 || hp.decoder.codebooks % channels != 0) {
            throw MissingKey("audio_channels must be 1 or 2 and divide the decoder's codebook_count");
        }
        hp.decoder.audio_channels = channels;
        if (hp.codec.quantizers != hp.decoder.levels()) {
            throw MissingKey("codec quantizer_count differs from the decoder's codebooks per channel");
        }
        const std::string g = "musicgen.generation.";
        hp.generation = {r.f32(g + "guidance_scale"), r.f32(g + "top_p"), r.f32(g + "temperature"), r.u32(g + "top_k"),
                         r.positive(g + "max_length")};
        if (r.str("tokenizer.ggml.model") != "t5") {
            throw MissingKey("tokenizer is not a T5 unigram tokenizer (tokenizer.ggml.model)");
        }
        size_t tokens = r.array_length("tokenizer.ggml.tokens", GGUF_TYPE_STRING);
        if (tokens < 3 || tokens > hp.t5.vocab_size || r.array_length("tokenizer.ggml.scores", GGUF_TYPE_FLOAT32) != tokens ||
            r.array_length("tokenizer.ggml.token_type", GGUF_TYPE_INT32) != tokens) {
            throw MissingKey("tokenizer tokens, scores and token types disagree with each other or the T5 vocabulary");
        }
        r.array_length("tokenizer.ggml.precompiled_charsmap", GGUF_TYPE_UINT8);
        hp.tokenizer_size = static_cast<uint32_t>(tokens);
    } catch (const MissingKey &e) {
        error = e.what();
        return false;
    }
    return true;
}

} // namespace lofi
