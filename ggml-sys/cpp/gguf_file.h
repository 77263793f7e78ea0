// A GGUF file opened for its metadata, with every tensor's data range checked against the file.
#pragma once

#include <cstdint>
#include <string>

#include "gguf.h"

struct lofi_gguf {
    std::string path;
    gguf_context *ctx = nullptr;
    ggml_context *meta = nullptr; // tensor shapes (no data)
    uint64_t file_size = 0;
    uint64_t data_offset = 0;
};

namespace lofi {
// nullptr and a reason in `error` when the file is not a readable, complete GGUF.
lofi_gguf *open_gguf(const char *path, std::string &error);
} // namespace lofi
