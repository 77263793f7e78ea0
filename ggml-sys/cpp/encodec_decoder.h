// EnCodec's decoder: residual-VQ codes -> audio, as transformers' EncodecModel.decode.
#pragma once

#include <cstdint>
#include <vector>

#include "musicgen_model.h"

namespace lofi {

// Frames per graph of each stage (0 = all at once); the audio does not depend on them.
struct EncodecChunks {
    int64_t frame_stage = 0;       // the unrolled LSTM: ~40 nodes per frame
    int64_t sample_rate_stage = 0; // its im2col buffers: ~0.5 MB per frame
};

// codes: codebook-major [codebook][frame]; audio gets frames x hop samples (mono).
bool encodec_decode(const MusicgenModel &m, const std::vector<int32_t> &codes, int64_t frames, const EncodecChunks &chunks,
                    std::vector<float> &audio, std::string &error);

} // namespace lofi
