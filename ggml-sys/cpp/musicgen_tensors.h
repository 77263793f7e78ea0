// The tensors a MusicGen GGUF must hold, with shapes in GGML order (ne0 first), derived from the
// hyperparameters exactly as the engine will use them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf_file.h"
#include "musicgen_hparams.h"

namespace lofi {

enum class TensorKind {
    Matrix, // F32, F16 or any quantized type
    Float,  // F32 or F16 only: norms, biases, positional biases, the codec
};

struct ExpectedTensor {
    std::string name;
    std::vector<int64_t> ne;
    TensorKind kind;
};

std::vector<ExpectedTensor> expected_tensors(const MusicgenHparams &hp);

// Every expected tensor present with its shape and an allowed type, and nothing else.
bool check_tensors(const lofi_gguf &file, const MusicgenHparams &hp, std::string &error);

} // namespace lofi
