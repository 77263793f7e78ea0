#include "node_times.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <vector>

namespace lofi {

std::string node_kind(const ggml_tensor *node) {
    // Our custom ops are named where they are built; GGML names the unnamed "node_<n>".
    const bool named = node->name[0] != '\0' && std::strncmp(node->name, "node_", 5) != 0;
    const std::string op = node->op != GGML_OP_CUSTOM ? ggml_op_desc(node) : named ? node->name : "CUSTOM (unnamed)";
    auto type_of = [](const ggml_tensor *t) { return t != nullptr ? ggml_type_name(t->type) : "-"; };
    char kind[192];
    std::snprintf(kind, sizeof kind, "%s %s <- %s,%s [%lld,%lld]", op.c_str(), ggml_type_name(node->type), type_of(node->src[0]),
                  type_of(node->src[1]), static_cast<long long>(node->ne[0]), static_cast<long long>(node->ne[1]));
    return kind;
}

bool NodeTimes::observe(ggml_tensor *node, bool ask, void *user_data) {
    auto *self = static_cast<NodeTimes *>(user_data);
    if (ask) {
        self->started_ = std::chrono::steady_clock::now();
    } else {
        Kind &kind = self->kinds_[node_kind(node)];
        kind.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - self->started_).count();
        kind.nodes++;
    }
    return true; // every node on its own
}

std::string NodeTimes::report(size_t rows) const {
    if (kinds_.empty()) {
        return {};
    }
    std::vector<std::pair<std::string, Kind>> kinds(kinds_.begin(), kinds_.end());
    std::sort(kinds.begin(), kinds.end(), [](const auto &a, const auto &b) { return a.second.seconds > b.second.seconds; });
    double total = 0;
    uint64_t nodes = 0;
    for (const auto &[name, kind] : kinds) {
        total += kind.seconds;
        nodes += kind.nodes;
    }
    char line[320];
    std::snprintf(line, sizeof line, "GGML node times: %.1f ms over %llu nodes (each computed alone; a thread start each included)\n",
                  total * 1e3, static_cast<unsigned long long>(nodes));
    std::string out = line;
    for (size_t i = 0; i < kinds.size() && i < rows; i++) {
        const Kind &k = kinds[i].second;
        std::snprintf(line, sizeof line, "%10.1f ms %9llu x %9.2f us %5.1f %%  %s\n", k.seconds * 1e3,
                      static_cast<unsigned long long>(k.nodes), k.seconds * 1e6 / static_cast<double>(k.nodes),
                      100.0 * k.seconds / total, kinds[i].first.c_str());
        out += line;
    }
    return out;
}

} // namespace lofi
