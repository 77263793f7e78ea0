// The CPU kernels of decode-time attention (kv_cache.h), chosen at run time (cpu_features.h).
#pragma once

#include <cstdint>

#include "kv_cache.h"

namespace lofi {

// Positions per key tile.
constexpr int64_t kKeyTile = 64;

// int4 values keep the first positions' int8: early in a track they are all there is to attend
// to, so no average over many positions hides a value's error, and a decoder keeps attending to
// its first positions (an attention sink) all along.
constexpr int64_t kPreciseValues = 64;

// Bytes of one key tile ([head size][kKeyTile] elements, then for int8 kKeyTile f32 scales) and
// of one value row (head size elements, then for int8 and int4 one f32 scale). Keys are never
// 4-bit (kv_cache.h).
size_t key_tile_bytes(KvElement element, int64_t head_size);
size_t value_row_bytes(KvElement element, int64_t head_size);

// Bytes of one head's values for `capacity` positions (for int4: kPreciseValues int8 rows first).
size_t values_bytes(KvElement element, int64_t head_size, int64_t capacity);

// Writes one head's key and value vectors (head_size floats each) at `position`.
void store_key(KvElement element, int64_t head_size, const float *key, char *tiles, int64_t position);
void store_value(KvElement element, int64_t head_size, const float *value, char *rows, int64_t position);

// scores[i] = q . key i, for positions i < n of one head's key tiles.
void key_scores(KvElement element, int64_t head_size, const float *q, const char *tiles, int64_t n, float *scores);

// out = sum over i < n of weights[i] * value i, of one head's value rows.
void weighted_values(KvElement element, int64_t head_size, const float *weights, const char *rows, int64_t n, float *out);

} // namespace lofi
