#include "token_embeddings.h"

#include <unistd.h>

namespace lofi {

bool add_token_embeddings(const MusicgenModel &m, const int32_t *codes, std::vector<float> &x) {
    thread_local std::vector<char> row;
    thread_local std::vector<float> values;
    for (size_t k = 0; k < m.dec_embd.size(); k++) {
        const ggml_tensor *table = m.dec_embd[k];
        if (codes[k] < 0 || codes[k] >= table->ne[1] || table->ne[0] != static_cast<int64_t>(x.size())) {
            return false;
        }
        row.resize(table->nb[1]);
        const auto at = static_cast<off_t>(file_offset(m, table) + codes[k] * static_cast<int64_t>(table->nb[1]));
        if (pread(m.fd, row.data(), row.size(), at) != static_cast<ssize_t>(row.size())) {
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
