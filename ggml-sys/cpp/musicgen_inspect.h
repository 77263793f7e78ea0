// What a checked MusicGen GGUF is, as lofi_model_info reports it.
#pragma once

#include "gguf_file.h"
#include "lofi_ggml.h"
#include "musicgen_hparams.h"

namespace lofi {
void fill_model_info(const lofi_gguf &file, const MusicgenHparams &hp, lofi_model_info *out);
} // namespace lofi
