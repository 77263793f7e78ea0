// EnCodec's convolution weights in the layouts its matrix products read (encodec_decoder.cpp),
// made once per stream on the backend that holds each weight, the mapped originals' pages handed
// back: permuting them in every chunk's graph copied ~45 MB per upsampling chunk (15 % of
// EnCodec's time).
#pragma once

#include <unordered_map>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "musicgen_model.h"

namespace lofi {

class CodecWeights {
  public:
    explicit CodecWeights(const MusicgenModel &m);
    ~CodecWeights();
    CodecWeights(const CodecWeights &) = delete;
    CodecWeights &operator=(const CodecWeights &) = delete;

    // A Conv1d weight [kernel, in, out] as [in, out * kernel]: row o + out * k is tap k of
    // output channel o.
    ggml_tensor *conv_taps(ggml_context *ctx, ggml_tensor *weight);
    // A ConvTranspose1d weight with stride s and kernel 2s, [2s, out, in], as [2 in, out * s]:
    // column i + in * h, row o + out * p is tap h * s + p from input channel i to output o.
    ggml_tensor *transposed_taps(ggml_context *ctx, ggml_tensor *weight);

  private:
    // The weight's values moved by `index` (the new flat index of original element k0, k1, k2)
    // into a tensor [ne0, ne1] of their own; when no memory is left for it, `in_graph` makes the
    // same tensor in the graph of ctx.
    template <typename Index>
    ggml_tensor *made(ggml_context *ctx, ggml_tensor *weight, int64_t ne0, int64_t ne1, Index index,
                      ggml_tensor *(*in_graph)(ggml_context *, ggml_tensor *));

    const MusicgenModel &model_;
    ggml_context *ctx_;
    std::unordered_map<const ggml_tensor *, ggml_tensor *> made_; // by original weight
    std::vector<ggml_backend_buffer_t> buffers_;                  // one per made tensor
};

} // namespace lofi
