// lofi_model_inspect: the engine's load-time checks, without reading the weights.
#include "musicgen_inspect.h"

#include "errors.h"
#include "ggml.h"
#include "musicgen_tensors.h"

namespace lofi {

void fill_model_info(const lofi_gguf &file, const MusicgenHparams &hp, lofi_model_info *out) {
    *out = lofi_model_info{};
    set_error(out->name, sizeof out->name, hp.name);
    int64_t ftype_key = gguf_find_key(file.ctx, "general.file_type");
    out->file_type = ftype_key >= 0 && gguf_get_kv_type(file.ctx, ftype_key) == GGUF_TYPE_UINT32
                         ? gguf_get_val_u32(file.ctx, ftype_key)
                         : 0;
    out->file_size = file.file_size;
    out->n_tensors = gguf_get_n_tensors(file.ctx);
    for (int64_t i = 0; i < out->n_tensors; i++) {
        const ggml_tensor *tensor = ggml_get_tensor(file.meta, gguf_get_tensor_name(file.ctx, i));
        out->n_params += ggml_nelements(tensor);
        if (tensor->type < 48) {
            out->tensors_by_type[tensor->type]++;
        }
    }
    out->tokenizer_size = hp.tokenizer_size;
    out->t5_layers = hp.t5.layers;
    out->t5_width = hp.t5.width;
    out->decoder_layers = hp.decoder.layers;
    out->decoder_width = hp.decoder.width;
    out->decoder_heads = hp.decoder.heads;
    out->codebooks = hp.decoder.codebooks;
    out->codebook_size = hp.decoder.codebook_size;
    out->sample_rate = hp.sample_rate;
    out->frame_rate = hp.frame_rate;
    out->audio_channels = hp.decoder.audio_channels;
}

} // namespace lofi

extern "C" bool lofi_model_inspect(const lofi_gguf *file, lofi_model_info *out, char *err, size_t err_len) {
    std::string error;
    lofi::MusicgenHparams hp;
    if (!lofi::read_hparams(file->ctx, hp, error) || !lofi::check_tensors(*file, hp, error)) {
        lofi::set_error(err, err_len, error);
        return false;
    }
    lofi::fill_model_info(*file, hp, out);
    return true;
}
