#include "musicgen_model.h"

#include <fcntl.h>
#include <algorithm>
#include <iterator>
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

#include "compute_device.h"
#include "cpu_backend.h"
#include "huge_pages.h"
#include "mapping_guard.h"
#include "lofi_ggml.h"
#include "musicgen_tensors.h"
#include "weight_copies.h"
#include "weight_repack.h"

namespace lofi {

ggml_tensor *MusicgenModel::get(const std::string &name) const { return ggml_get_tensor(file->meta, name.c_str()); }

std::vector<ggml_backend_t> MusicgenModel::backends() const {
    if (accelerator != nullptr) {
        return {accelerator, cpu};
    }
    return {cpu};
}

MusicgenModel::~MusicgenModel() {
    if (weights != nullptr) {
        ggml_backend_buffer_free(weights);
    }
    for (ggml_backend_buffer_t copies : {repacked, norms, uploaded}) {
        if (copies != nullptr) {
            ggml_backend_buffer_free(copies);
        }
    }
    if (mapping != nullptr) {
        unguard_mapping(mapping);
        munmap(mapping, mapping_size);
    }
    if (fd >= 0) {
        close(fd);
    }
    for (ggml_backend_t backend : {accelerator, cpu}) {
        if (backend != nullptr) {
            ggml_backend_free(backend);
        }
    }
    lofi_gguf_close(file);
}

namespace {

// Where the file's tensor number `index` starts in the file.
int64_t file_offset_of(const MusicgenModel &m, int64_t index) {
    return static_cast<int64_t>(m.file->data_offset + gguf_get_tensor_offset(m.file->ctx, index));
}

// Where a weight's bytes start in the file.
int64_t file_offset(const MusicgenModel &m, const ggml_tensor *weight) {
    return file_offset_of(m, gguf_find_tensor(m.file->ctx, weight->name));
}

// The bytes of the file's tensor number `index` in the mapping.
void *mapped_data(const MusicgenModel &m, int64_t index) { return static_cast<char *>(m.mapping) + file_offset_of(m, index); }

const void *mapped_data(const MusicgenModel &m, const ggml_tensor *tensor) {
    return mapped_data(m, gguf_find_tensor(m.file->ctx, tensor->name));
}

// Asks the kernel to map the file in 4 kB pages: the page cache may hold it in 2 MB folios,
// which the kernel then maps whole, and a weight read once (T5's, EnCodec's) or a small one read
// every step (a norm between two strips' originals) kept 2 MB resident each (streamed 30 s peak:
// 405-431 MB without this, README "Memory"). The step weights still read from the mapping get
// 2 MB pages back at placement (map_mapped_step_weights_in_huge_pages).
void map_in_small_pages(const MusicgenModel &m) {
#if defined(MADV_NOHUGEPAGE)
    madvise(m.mapping, m.mapping_size, MADV_NOHUGEPAGE); // advice: a refusal changes nothing
#else
    (void)m;
#endif
}

// Maps the file read-only: weights are used from it in place, pages load on use.
bool map_file(MusicgenModel &m, std::string &error) {
    m.fd = open(m.file->path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m.fd < 0) {
        error = "cannot open " + m.file->path;
        return false;
    }
    m.mapping_size = m.file->file_size;
    m.mapping = mmap(nullptr, m.mapping_size, PROT_READ, MAP_PRIVATE, m.fd, 0);
    if (m.mapping == MAP_FAILED) {
        m.mapping = nullptr;
        error = "cannot map " + m.file->path + " into memory";
        return false;
    }
    map_in_small_pages(m);
    guard_mapping(m.mapping, m.mapping_size, &m.mapping_damaged);
    return true;
}

// Points every weight that was not copied elsewhere at its bytes in the mapping: no copy.
bool place_mapped_weights(MusicgenModel &m, std::string &error) {
    m.weights = ggml_backend_dev_buffer_from_host_ptr(ggml_backend_get_device(m.cpu), m.mapping, m.mapping_size, m.mapping_size);
    ggml_backend_buffer_set_usage(m.weights, GGML_BACKEND_BUFFER_USAGE_WEIGHTS);
    for (int64_t i = 0; i < gguf_get_n_tensors(m.file->ctx); i++) {
        ggml_tensor *tensor = m.get(gguf_get_tensor_name(m.file->ctx, i));
        if (tensor->buffer != nullptr) {
            continue; // repacked or uploaded
        }
        if (ggml_backend_tensor_alloc(m.weights, tensor, mapped_data(m, i)) != GGML_STATUS_SUCCESS) {
            error = std::string("cannot place tensor '") + tensor->name + "'";
            return false;
        }
    }
    return true;
}

// The weights a decoder step reads from the mapping, once placed: its products of a type with no
// faster copy (e.g. F16); strips and repacked copies serve the others (a strip's original stays
// placed in the mapping, unread).
std::vector<const ggml_tensor *> step_weights_in_mapping(const MusicgenModel &m) {
    std::vector<const ggml_tensor *> out;
    for (const ggml_tensor *w : decoder_step_products(m)) {
        if (w->buffer == m.weights && m.strips.of(w) == nullptr) {
            out.push_back(w);
        }
    }
    return out;
}

// Those are read whole every step: 2 MB pages spare their TLB misses (map_in_small_pages advised
// 4 kB).
void map_mapped_step_weights_in_huge_pages(const MusicgenModel &m) {
    for (const ggml_tensor *w : step_weights_in_mapping(m)) {
        ask_for_huge_pages(static_cast<char *>(m.mapping) + file_offset(m, w), ggml_nbytes(w));
    }
}

// Hands back the mapped pages wholly under one weight's bytes.
void release_pages_of(const MusicgenModel &m, const ggml_tensor *w) {
    const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto start = reinterpret_cast<uintptr_t>(mapped_data(m, w));
    const uintptr_t first = (start + page - 1) / page * page, end = (start + ggml_nbytes(w)) / page * page;
    if (end > first) {
        madvise(reinterpret_cast<void *>(first), end - first, MADV_DONTNEED);
    }
}

// Hands back the pages of the mapping under those of `weights` that live in `buffer`: weights
// copied elsewhere (repacked, uploaded) were read once; mapped weights of a stage that has run
// are read again from the page cache when it next runs.
void release_mapped_pages(const MusicgenModel &m, const std::vector<ggml_tensor *> &weights, ggml_backend_buffer_t buffer) {
    if (buffer == nullptr) {
        return; // nothing was copied (and unplaced weights have no buffer either)
    }
    for (const ggml_tensor *w : weights) {
        if (w != nullptr && w->buffer == buffer) {
            release_pages_of(m, w);
        }
    }
}

// EnCodec's frame stage (codebooks, first convolution, LSTM) computes on the CPU: the LSTM is
// thousands of tiny nodes, each a kernel launch on an accelerator.
bool in_frame_stage(const std::string &name) {
    for (const char *prefix : {"codec.vq.", "codec.dec.0.", "codec.dec.1."}) {
        if (name.rfind(prefix, 0) == 0) {
            return true;
        }
    }
    return false;
}

// Copies every weight into the accelerator's memory but the frame stage's and the token
// embeddings (read from the file a row at a time: token_embeddings.h).
ggml_backend_buffer_t upload_weights(const MusicgenModel &m, std::vector<ggml_tensor *> &uploaded) {
    for (int64_t i = 0; i < gguf_get_n_tensors(m.file->ctx); i++) {
        ggml_tensor *tensor = m.get(gguf_get_tensor_name(m.file->ctx, i));
        const bool token_embedding = std::find(m.dec_embd.begin(), m.dec_embd.end(), tensor) != m.dec_embd.end();
        if (!in_frame_stage(tensor->name) && !token_embedding) {
            uploaded.push_back(tensor);
        }
    }
    return copy_weights(ggml_backend_get_default_buffer_type(m.accelerator), uploaded,
                        [&](const ggml_tensor *w) { return mapped_data(m, w); });
}

void bind_tensors(MusicgenModel &m) {
    auto t5_name = [](uint32_t i, const char *part) { return "t5.blk." + std::to_string(i) + "." + part + ".weight"; };
    m.t5_embd = m.get("t5.token_embd.weight");
    m.t5_rel_bias = m.get("t5.blk.0.attn_rel_b.weight");
    m.t5_out_norm = m.get("t5.output_norm.weight");
    for (uint32_t i = 0; i < m.hp.t5.layers; i++) {
        m.t5.push_back({m.get(t5_name(i, "attn_norm")), m.get(t5_name(i, "attn_q")), m.get(t5_name(i, "attn_k")),
                        m.get(t5_name(i, "attn_v")), m.get(t5_name(i, "attn_o")), m.get(t5_name(i, "ffn_norm")),
                        m.get(t5_name(i, "ffn_up")), m.hp.t5.gated_ffn ? m.get(t5_name(i, "ffn_gate")) : nullptr,
                        m.get(t5_name(i, "ffn_down"))});
    }
    m.proj_w = m.get("proj.weight");
    m.proj_b = m.get("proj.bias");
    for (uint32_t k = 0; k < m.hp.decoder.codebooks; k++) {
        m.dec_embd.push_back(m.get("dec.tok_embd." + std::to_string(k) + ".weight"));
        m.dec_embd_offsets.push_back(file_offset(m, m.dec_embd.back()));
        m.dec_heads.push_back(m.get("dec.output." + std::to_string(k) + ".weight"));
        m.codebooks.push_back(m.get("codec.vq." + std::to_string(k) + ".embd"));
    }
    for (uint32_t i = 0; i < m.hp.decoder.layers; i++) {
        const std::string p = "dec.blk." + std::to_string(i) + ".";
        auto w = [&](const char *part) { return m.get(p + part + ".weight"); };
        auto b = [&](const char *part) { return m.get(p + part + ".bias"); };
        m.dec.push_back({w("attn_norm"), b("attn_norm"), w("attn_q"), w("attn_k"), w("attn_v"), w("attn_o"),
                         w("cross_attn_norm"), b("cross_attn_norm"), w("cross_attn_q"), w("cross_attn_k"),
                         w("cross_attn_v"), w("cross_attn_o"), w("ffn_norm"), b("ffn_norm"), w("ffn_up"), w("ffn_down")});
    }
    m.dec_norm_w = m.get("dec.output_norm.weight");
    m.dec_norm_b = m.get("dec.output_norm.bias");
}

// The norms' weights and biases a decoder step reads.
std::vector<ggml_tensor *> decoder_step_norms(const MusicgenModel &m) {
    std::vector<ggml_tensor *> out = {m.dec_norm_w, m.dec_norm_b};
    for (const DecoderLayer &l : m.dec) {
        out.insert(out.end(), {l.attn_norm_w, l.attn_norm_b, l.cross_norm_w, l.cross_norm_b, l.ffn_norm_w, l.ffn_norm_b});
    }
    return out;
}

} // namespace

std::unique_ptr<MusicgenModel> load_model(const char *path, int threads, const std::string &device, std::string &error) {
    ComputeDevice picked;
    if (!pick_device(device, picked, error)) {
        return nullptr;
    }
    auto model = std::make_unique<MusicgenModel>();
    model->file = open_gguf(path, error);
    if (model->file == nullptr || !read_hparams(model->file->ctx, model->hp, error) ||
        !check_tensors(*model->file, model->hp, error) || !map_file(*model, error)) {
        return nullptr;
    }
    bind_tensors(*model);
    model->threads = threads > 0 ? threads : 1;
    model->cpu = start_cpu_backend(model->threads, error);
    if (model->cpu == nullptr) {
        return nullptr;
    }
    model->device = picked.kind;
    if (picked.accelerator != nullptr) {
        model->accelerator = ggml_backend_dev_init(picked.accelerator, nullptr);
        if (model->accelerator == nullptr) {
            error = std::string("cannot start ") + ggml_backend_dev_description(picked.accelerator) + " (" + picked.kind + ")";
            return nullptr;
        }
    }
    // The attention cache: F32 for F32 weights (the parity reference); on the CPU int8 keys and
    // 4-bit values (past the first 64 positions), under half F16's bytes, so steps late in a
    // track are faster and a 30 s track's cache takes 120 MB instead of 295 MB (musicgen-small;
    // its logit error is the size of F16's own against F32, benches/musicgen_kv_cache.rs); on an
    // accelerator F16.
    if (model->dec[0].q->type == GGML_TYPE_F32) {
        model->kv_type = {KvElement::f32, KvElement::f32};
    } else if (model->accelerator == nullptr) {
        model->kv_type = {KvElement::int8, KvElement::int4};
    } else {
        model->kv_type = {KvElement::f16, KvElement::f16};
    }
    return model;
}

bool place_weights(MusicgenModel &m, std::string &error) {
    if (!m.placement_tried) { // once: a half-done placement cannot be redone
        m.placement_tried = true;
        if (m.accelerator != nullptr) {
            std::vector<ggml_tensor *> uploaded;
            m.uploaded = upload_weights(m, uploaded);
            if (m.uploaded == nullptr) {
                m.placement_error = "not enough memory on the " + m.device + " device for the weights";
            }
            release_mapped_pages(m, uploaded, m.uploaded);
        } else {
            auto source = [&](const ggml_tensor *w) { return mapped_data(m, w); };
            const std::vector<ggml_tensor *> products = decoder_step_products(m);
            auto read = [&](const ggml_tensor *w) { release_pages_of(m, w); };
            if (!m.strips.lay_out(products, source, read, ggml_backend_get_default_buffer_type(m.cpu))) {
                m.placement_error = "not enough memory for the decoder's weights";
            }
            std::vector<ggml_tensor *> others;
            std::copy_if(products.begin(), products.end(), std::back_inserter(others), [&](ggml_tensor *w) { return m.strips.of(w) == nullptr; });
            m.repacked = repack_weights(others, source);
            release_mapped_pages(m, others, m.repacked);
            // Each layer's norms sit in the file between its matrices: read from the mapping,
            // they kept the pages around them resident.
            m.norms = copy_weights(ggml_backend_get_default_buffer_type(m.cpu), decoder_step_norms(m), source);
            if (m.norms == nullptr) {
                m.placement_error = "not enough memory for the decoder's weights";
            }
        }
        if (m.placement_error.empty() && place_mapped_weights(m, m.placement_error)) {
            map_mapped_step_weights_in_huge_pages(m);
        }
    }
    error = m.placement_error;
    return error.empty();
}

std::vector<ggml_tensor *> decoder_step_products(const MusicgenModel &m) {
    std::vector<ggml_tensor *> out;
    for (const DecoderLayer &l : m.dec) {
        out.insert(out.end(), {l.q, l.k, l.v, l.o, l.cross_q, l.cross_o, l.up, l.down});
    }
    out.insert(out.end(), m.dec_heads.begin(), m.dec_heads.end());
    return out;
}

void release_decoder_start_pages(const MusicgenModel &m) {
    const std::vector<const ggml_tensor *> kept = step_weights_in_mapping(m);
    for (int64_t i = 0; i < gguf_get_n_tensors(m.file->ctx); i++) {
        const char *name = gguf_get_tensor_name(m.file->ctx, i);
        const ggml_tensor *w = m.get(name);
        if ((std::strncmp(name, "dec.", 4) == 0 || w == m.proj_w || w == m.proj_b) && std::find(kept.begin(), kept.end(), w) == kept.end()) {
            release_pages_of(m, w);
        }
    }
}

void release_mapped_weight(const MusicgenModel &m, ggml_tensor *weight) { release_mapped_pages(m, {weight}, m.weights); }

void release_stage_pages(const MusicgenModel &m, const std::string &prefix) {
    std::vector<ggml_tensor *> stage;
    for (int64_t i = 0; i < gguf_get_n_tensors(m.file->ctx); i++) {
        const char *name = gguf_get_tensor_name(m.file->ctx, i);
        if (std::strncmp(name, prefix.c_str(), prefix.size()) == 0) {
            stage.push_back(m.get(name));
        }
    }
    release_mapped_pages(m, stage, m.weights);
}

} // namespace lofi
