// EnCodec's decoder: residual-VQ codes -> audio, as transformers' EncodecModel.decode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "codec_weights.h"
#include "musicgen_model.h"

namespace lofi {

// Frames per graph of each stage (0 = all at once); the audio does not depend on them.
struct EncodecChunks {
    int64_t frame_stage = 0;       // the unrolled LSTM: ~40 nodes per frame
    int64_t sample_rate_stage = 0; // its intermediates: ~0.5 MB per frame
};

// EnCodec over codes that arrive a few frames at a time (as the decoder LM makes them): each
// push decodes every sample no later frame can change, so the samples come out as a whole
// decode of all the codes would give them, a few frames behind the codes. Bounded memory: only
// the context the next chunk needs is kept.
class EncodecStream {
  public:
    // `weights`: the convolutions' weights as the graphs read them, shared by a model's streams.
    EncodecStream(const MusicgenModel &m, const EncodecChunks &chunks, std::shared_ptr<CodecWeights> weights);
    // Appends `frames` frames of codes (codebook-major) and appends the samples now final to
    // `audio` (all of them when `last`; no push may follow a last one).
    bool push(const MusicgenModel &m, const int32_t *codes, int64_t frames, bool last, std::vector<float> &audio,
              std::string &error);
    int64_t frames_received() const { return received_; }

  private:
    bool frame_stage(const MusicgenModel &m, bool last, std::string &error);
    bool upsampling(const MusicgenModel &m, bool last, std::vector<float> &audio, std::string &error);

    EncodecChunks chunks_;
    std::shared_ptr<CodecWeights> weights_;
    int64_t received_ = 0, framed_ = 0, upsampled_ = 0; // frames pushed / through the frame stage / decoded
    std::vector<std::vector<int32_t>> codes_;            // [codebook][frame - codes_origin_]
    int64_t codes_origin_ = 0;
    std::vector<float> features_; // the frame stage's output, [frame - features_origin_][channel]
    int64_t feature_channels_ = 0, features_origin_ = 0;
    std::vector<std::vector<float>> lstm_state_; // per LSTM layer its output and cell after framed_ ([2][channels])
};

// One EncodecStream per audio channel: a stereo model's codebooks alternate left and right
// (audiocraft's stereo MusicGen) and each channel's are decoded by the mono EnCodec; the
// samples come out interleaved. A mono model has one stream and its samples as they are. The
// streams share the convolutions' weights laid out for the graphs (CodecWeights).
class ChannelStreams {
  public:
    ChannelStreams(const MusicgenModel &m, const EncodecChunks &chunks);
    // codes: all the decoder's codebooks, codebook-major over `frames` frames.
    bool push(const MusicgenModel &m, const int32_t *codes, int64_t frames, bool last, std::vector<float> &audio,
              std::string &error);
    int64_t frames_received() const { return streams_.front().frames_received(); }

  private:
    std::vector<EncodecStream> streams_;
};

// codes: the decoder's codebooks, codebook-major [codebook][frame]; audio gets frames x hop
// samples per channel, interleaved.
bool encodec_decode(const MusicgenModel &m, const std::vector<int32_t> &codes, int64_t frames, const EncodecChunks &chunks,
                    std::vector<float> &audio, std::string &error);

} // namespace lofi
