// The CPU kernels of decode-time attention (kv_cache.h), chosen at run time (cpu_features.h).
#pragma once

#include <cstdint>

#include "kv_cache.h"

namespace lofi {

// Positions per key tile.
constexpr int64_t kKeyTile = 64;

// Bytes of one key tile ([head size][kKeyTile] elements, then for int8 kKeyTile f32 scales) and
// of one value row (head size elements, then for int8 one f32 scale).
size_t key_tile_bytes(KvElement element, int64_t head_size);
size_t value_row_bytes(KvElement element, int64_t head_size);

// Writes one head's key and value vectors (head_size floats each) at `position`.
void store_key(KvElement element, int64_t head_size, const float *key, char *tiles, int64_t position);
void store_value(KvElement element, int64_t head_size, const float *value, char *rows, int64_t position);

// scores[i] = q . key i, for positions i < n of one head's key tiles.
void key_scores(KvElement element, int64_t head_size, const float *q, const char *tiles, int64_t n, float *scores);

// out = sum over i < n of weights[i] * value i, of one head's value rows.
void weighted_values(KvElement element, int64_t head_size, const float *weights, const char *rows, int64_t n, float *out);

} // namespace lofi
