// A MusicGen GGUF loaded for inference: hyperparameters, named weights mapped from the file
// (zero copy on the CPU backend, except those repacked for faster kernels), and the backend
// that computes with them.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf_file.h"
#include "musicgen_hparams.h"

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
    std::vector<DecoderLayer> dec;
    ggml_tensor *dec_norm_w, *dec_norm_b;
    std::vector<ggml_tensor *> codebooks;

    ggml_backend_t backend = nullptr;
    int threads = 1;

    void *mapping = nullptr;
    size_t mapping_size = 0;
    ggml_backend_buffer_t weights = nullptr;  // the mapped file
    ggml_backend_buffer_t repacked = nullptr; // weights copied into GGML's faster CPU layout
    bool placement_tried = false;
    std::string placement_error; // why the weights could not be placed, if they could not

    ggml_tensor *get(const std::string &name) const;
    ~MusicgenModel();
};

// Opens, checks and maps the file: cheap, so a daemon serving this model starts at once.
std::unique_ptr<MusicgenModel> load_model(const char *path, int threads, std::string &error);

// Puts the weights where computation reads them (repacked copies, the rest in the mapping);
// every computation calls it first, and only the first call does the work (~0.5 s for
// musicgen-small Q4_K_M).
bool place_weights(MusicgenModel &m, std::string &error);

} // namespace lofi
