#include "token_embeddings.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace lofi {

bool add_token_embeddings(const MusicgenModel &m, const int32_t *codes, std::vector<float> &x, std::string &error) {
    thread_local std::vector<char> row;
    thread_local std::vector<float> values;
    for (size_t k = 0; k < m.dec_embd.size(); k++) {
        const ggml_tensor *table = m.dec_embd[k];
        if (codes[k] < 0 || codes[k] >= table->ne[1] || table->ne[0] != static_cast<int64_t>(x.size())) {
            error = "code " + std::to_string(codes[k]) + " of codebook " + std::to_string(k) + " is outside its table";
            return false;
        }
        row.resize(table->nb[1]);
        const auto at = static_cast<off_t>(m.dec_embd_offsets[k] + codes[k] * static_cast<int64_t>(table->nb[1]));
        const ssize_t got = pread(m.fd, row.data(), row.size(), at);
        if (got != static_cast<ssize_t>(row.size())) {
            error = "cannot read the token embeddings from " + m.file->path + ": " +
                    (got < 0 ? std::strerror(errno) : "the file is shorter than when it was loaded");
            return false;
        }
        values.resize(x.size());
        if (table->type == GGML_TYPE_F32) {
            std::copy_n(reinterpret_cast<const float *>(row.data()), x.size(), values.data());
        } else {
            ggml_get_type_traits(table->type)->to_float(row.data(), values.data(), table->ne[0]);
        }
        for (size_t i = 0; i < x.size(); i++) {
            x[i] += values[i];
        }
    }
    return true;
}

} // namespace lofi
