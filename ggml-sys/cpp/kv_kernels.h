// The CPU kernels of decode-time attention (kv_cache.h), chosen at run time (cpu_features.h).
#pragma once

#include <cstdint>

#include "kv_cache.h"

namespace lofi {

// Positions per key tile, and per value tile (int8 and int4 values). int4 values keep their first
// tile int8: early in a track its positions are all there is to attend to, so no average over
// many positions hides a value's error, and a decoder keeps attending to its first positions (an
// attention sink) all along.
constexpr int64_t kKeyTile = 64;
constexpr int64_t kValueTile = 64;

// Bytes of one key tile ([head size][kKeyTile] elements, then for int8 kKeyTile f32 scales).
// Keys are never 4-bit (kv_cache.h).
size_t key_tile_bytes(KvElement element, int64_t head_size);

// Bytes a cached position's values take in one head: a row of head size elements for F32 and
// F16, a tile's share (its elements and scales over kValueTile) for int8 and int4.
size_t value_bytes_per_position(KvElement element, int64_t head_size);

// Bytes of one head's values for `capacity` positions (rows, or whole tiles: for int4 an int8
// tile first).
size_t values_bytes(KvElement element, int64_t head_size, int64_t capacity);

// Writes one head's key and value vectors (head_size floats each) at `position`.
void store_key(KvElement element, int64_t head_size, const float *key, char *tiles, int64_t position);
void store_value(KvElement element, int64_t head_size, const float *value, char *values, int64_t position);

// Ask L2 for the first tiles a pass over n positions of one head's keys (key_scores) or values
// (weighted_values) reads, so that the pass starts on them rather than on memory: the kernels
// ask ahead of the tile they compute, but not across passes.
void ask_for_keys(KvElement element, int64_t head_size, const char *tiles, int64_t n);
void ask_for_values(KvElement element, int64_t head_size, const char *values, int64_t n);

// scores[i] = q . key i, for positions i < n of one head's key tiles.
void key_scores(KvElement element, int64_t head_size, const float *q, const char *tiles, int64_t n, float *scores);

// x[i] = exp(scale * x[i] - m) / sum over i < n, m the largest scale * x[i] (GGML's soft_max_ext
// without a mask), in place.
void softmax(float *x, int64_t n, float scale);

// out = sum over i < n of weights[i] * value i, of one head's values.
void weighted_values(KvElement element, int64_t head_size, const float *weights, const char *values, int64_t n, float *out);

} // namespace lofi
