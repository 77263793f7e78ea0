// EnCodec's decoder: residual-VQ codes -> audio, as transformers' EncodecModel.decode.
#pragma once

#include <cstdint>
#include <vector>

#include "musicgen_model.h"

namespace lofi {

// codes: codebook-major [codebook][frame]; audio gets frames x hop samples (mono). The
// sample-rate stage runs in chunks of chunk_frames (0 = all at once).
bool encodec_decode(const MusicgenModel &m, const std::vector<int32_t> &codes, int64_t frames, int64_t chunk_frames,
                    std::vector<float> &audio, std::string &error);

} // namespace lofi
