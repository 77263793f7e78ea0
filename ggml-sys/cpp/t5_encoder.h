// T5 encoder: token ids -> last hidden state [width x tokens].
#pragma once

#include <cstdint>
#include <vector>

#include "graph_runner.h"
#include "musicgen_model.h"

namespace lofi {

// T5's bidirectional relative position bucket for key position - query position.
int32_t t5_relative_bucket(int32_t relative, uint32_t buckets, uint32_t max_distance);

// Returns false on a compute failure; out holds tokens x width floats (token-major).
bool t5_encode(const MusicgenModel &m, GraphRunner &runner, const std::vector<int32_t> &ids, std::vector<float> &out);

} // namespace lofi
