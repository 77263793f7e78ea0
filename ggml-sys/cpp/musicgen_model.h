// A MusicGen GGUF loaded for inference: hyperparameters, named weights, and the backends that
// compute with them. On the CPU the weights are mapped from the file (zero copy, except those
// repacked for faster kernels); on an accelerator they are copied to its memory, except the
// EnCodec frame stage's, which always computes on the CPU.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf_file.h"
#include "kv_cache.h"
#include "musicgen_hparams.h"
#include "strip_weights.h"

namespace lofi {

struct T5Layer {
    ggml_tensor *attn_norm, *q, *k, *v, *o;
    ggml_tensor *ffn_norm, *up, *gate, *down; // gate: gated FFN only
};

struct DecoderLayer {
    ggml_tensor *attn_norm_w, *attn_norm_b, *q, *k, *v, *o;
    ggml_tensor *cross_norm_w, *cross_norm_b, *cross_q, *cross_k, *cross_v, *cross_o;
    ggml_tensor *ffn_norm_w, *ffn_norm_b, *up, *down;
};

struct MusicgenModel {
    MusicgenHparams hp;
    lofi_gguf *file = nullptr;

    ggml_tensor *t5_embd, *t5_rel_bias, *t5_out_norm;
    std::vector<T5Layer> t5;
    ggml_tensor *proj_w, *proj_b;
    std::vector<ggml_tensor *> dec_embd, dec_heads;
    std::vector<int64_t> dec_embd_offsets; // where each dec_embd table starts in the file
    std::vector<DecoderLayer> dec;
    ggml_tensor *dec_norm_w, *dec_norm_b;
    std::vector<ggml_tensor *> codebooks;

    ggml_backend_t cpu = nullptr;         // always there: the frame stage, and ops an accelerator lacks
    ggml_backend_t accelerator = nullptr; // where the weights live, when not the CPU
    std::string device = "cpu";           // model.device as resolved: "cpu", "cuda", "vulkan", "metal"
    int threads = 1;
    // The decoder's self-attention cache (see load_model; int8 and int4 on the CPU only).
    KvType kv_type;

    void *mapping = nullptr;
    size_t mapping_size = 0;
    // Set when pages of the mapping were lost: the file was cut shorter under it (mapping_guard.h).
    std::atomic<bool> mapping_damaged{false};
    int fd = -1; // the file, kept open: the token embeddings' rows are read from it (token_embeddings.h)
    ggml_backend_buffer_t weights = nullptr;  // the mapped file
    StripWeights strips;                      // the decoder step's Q4_K, Q5_K, Q6_K and Q8_0 weights, our layout
    ggml_backend_buffer_t repacked = nullptr; // other weights copied into GGML's faster CPU layout
    ggml_backend_buffer_t norms = nullptr;    // the decoder step's norms, copied (see place_weights)
    ggml_backend_buffer_t uploaded = nullptr; // weights copied to the accelerator
    bool placement_tried = false;
    std::string placement_error; // why the weights could not be placed, if they could not

    ggml_tensor *get(const std::string &name) const;
    // The backends a graph of the model computes on, most preferred first (the CPU is last).
    std::vector<ggml_backend_t> backends() const;
    // The backend whose memory holds the decoder's caches.
    ggml_backend_t main_backend() const { return accelerator != nullptr ? accelerator : cpu; }
    // Compute threads for a loop the thread governor times: the CPU's, or one when an accelerator
    // computes (its step times say nothing about CPU threads).
    int governed_threads() const { return accelerator != nullptr ? 1 : threads; }
    ~MusicgenModel();
};

// Opens, checks and maps the file: cheap, so a daemon serving this model starts at once.
// `device` is model.device (see pick_device).
std::unique_ptr<MusicgenModel> load_model(const char *path, int threads, const std::string &device, std::string &error);

// Puts the weights where computation reads them (on the CPU: the decoder step's in strips,
// repacked or plain copies, the rest in the mapping; on an accelerator: copies in its memory); every
// computation calls it first, and only the first call does the work (~0.1 s for musicgen-small
// Q4_K_M on the CPU).
bool place_weights(MusicgenModel &m, std::string &error);

// Hands back the memory of the mapped weights whose names start with `prefix`, after that stage
// ran: T5 runs once per generation and EnCodec after the decoder, so neither needs to stay
// resident through the decoder's loop. They are read again next time: from the page cache, or
// from the disk once the kernel has reclaimed them (measured here: ~2 s for EnCodec's 119 MB).
void release_stage_pages(const MusicgenModel &m, const std::string &prefix);
// The weights every decoder step multiplies by: the ones worth a copy in a faster layout (strips
// for Q4_K, Q5_K, Q6_K and Q8_0, GGML's repacked layout for the types it has one for). T5, the
// projection of its states and the cross-attention keys and values run once per prompt: they
// stay in the mapping, whose pages are handed back after use (~76 MB for musicgen-small Q4_K_M).
std::vector<ggml_tensor *> decoder_step_products(const MusicgenModel &m);

// Hands back the mapped pages of one weight read into a copy of its own (EnCodec's convolutions,
// laid out per stream: codec_weights.h) or not read again soon (an LSTM layer's, once it has run
// over a chunk); nothing when the weight is not in the mapping.
void release_mapped_weight(const MusicgenModel &m, ggml_tensor *weight);

// Hands back the pages of the weights only a decoder run's start reads (the projection of T5's
// states and the cross-attention keys and values) until the next run's start, and of every other
// decoder weight no step reads from the mapping: a fault maps a large page-cache folio whole
// (Linux 6.18), so reading the former mapped back 18-23 MB of the strips' originals around them
// (the streamed 30 s peak: 411-417 MB, README "Memory").
void release_decoder_start_pages(const MusicgenModel &m);

} // namespace lofi
