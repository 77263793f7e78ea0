// MusicGen hyperparameters as the converter writes them (doc/musicgen-gguf.md), read from GGUF metadata.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

namespace lofi {

struct T5Hparams {
    uint32_t vocab_size, width, key_length, ffn_length, layers, heads, buckets, max_distance;
    float rms_epsilon;
    bool gated_ffn; // feed_forward_proj "gated-gelu" (wi_0 / wi_1) rather than "relu"
};

struct DecoderHparams {
    uint32_t width, ffn_length, layers, heads, codebooks, codebook_size, context_length, pad_token, start_token;
    float norm_epsilon;
    bool scale_embedding;
    // 1, or 2 for the stereo models: their codebooks alternate left and right (audiocraft's
    // stereo delay pattern: a pair per level, both delayed by the level).
    uint32_t audio_channels = 1;
    // Codebooks per channel: the levels of the delay pattern.
    uint32_t levels() const { return codebooks / audio_channels; }
};

struct CodecHparams {
    uint32_t codebook_size, codebook_dim, quantizers, hidden_size, num_filters, residual_layers, dilation_growth;
    uint32_t kernel_size, last_kernel_size, residual_kernel_size, compress, lstm_layers;
    std::vector<uint32_t> upsampling_ratios;
    bool conv_shortcut, causal;
    std::string pad_mode;
    float trim_right_ratio;

    // Audio samples per codec frame: the product of the upsampling ratios.
    uint32_t hop_length() const;
};

struct GenerationDefaults {
    float guidance_scale, top_p, temperature;
    uint32_t top_k, max_length;
};

struct MusicgenHparams {
    std::string name;
    uint32_t sample_rate, frame_rate; // the channel count is the decoder's (DecoderHparams)
    T5Hparams t5;
    DecoderHparams decoder;
    CodecHparams codec;
    GenerationDefaults generation;
    uint32_t tokenizer_size;
};

// false and a one-line reason when a key is missing, has the wrong type or an impossible value.
bool read_hparams(const gguf_context *ctx, MusicgenHparams &hp, std::string &error);

} // namespace lofi
