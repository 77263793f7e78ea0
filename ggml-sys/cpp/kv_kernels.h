// The CPU kernels of decode-time attention (kv_cache.h), chosen at run time (cpu_features.h:
// portable, AVX2, AVX-VNNI, AVX512-VNNI and neon-dotprod versions), and the layout of a layer's
// cache they read.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kv_elements.h"

namespace lofi {

// A layer's cache on the CPU: its keys, then apart its values, in `runs` runs of (head, branch)
// pairs as thread_share gives them to the attention's threads, each run tile by tile, tile t of
// its pairs side by side. A thread reads its run as one stream of keys and one of values: tile
// by tile across its pairs rather than one pair's ~17 kB at a time (which read at half the speed
// at 250 positions: a plain read, Zen 4, 1.15 against 0.77 ms for 24 layers), and its run whole
// rather than interleaved with the other threads' (at 1500 positions on the Intel host, 2
// threads: the attention 5.10-5.21 against 5.40-5.41 ms, a plain read 4.45-4.62 against 5.15).
// Read by another number of threads (the thread governor's one-thread steps) it is only slower.
struct KvLayout {
    KvType type;
    int64_t head_size = 0, pairs = 0, capacity = 0, runs = 1;

    // A run of pairs, [first, first + width).
    struct Run {
        int64_t first, width;
        bool holds(int64_t pair) const { return pair >= first && pair < first + width; }
    };
    Run run_of(int64_t pair) const;

    // Where tile t of a pair's keys and values start in the keys' and the values' bytes, and the
    // bytes of that value tile (int4's first is int8; of F32 and F16 rows, the last tile holds
    // the rows up to the capacity alone: a prompt's ~20 cross-attention positions are no 64).
    // Given the pair's run, without looking it up (three divisions: ~1.2 % of a step's samples
    // when a pass looked it up for every tile).
    size_t key_offset(int64_t t, int64_t pair) const { return key_offset(t, pair, run_of(pair)); }
    size_t value_offset(int64_t t, int64_t pair) const { return value_offset(t, pair, run_of(pair)); }
    size_t key_offset(int64_t t, int64_t pair, const Run &run) const;
    size_t value_offset(int64_t t, int64_t pair, const Run &run) const;
    int64_t key_columns() const; // a key tile's (kv_kernels.cpp's key_columns)
    size_t key_tile_bytes() const;
    size_t value_tile_bytes(int64_t t) const;
    // The bytes of all keys and of all values, and of one pair's values.
    size_t keys_bytes() const;
    size_t values_bytes() const;
    size_t pair_values_bytes() const;
    // The bytes one position takes in every pair, keys and values (a whole tile's share).
    size_t bytes_per_position() const;
};

// Writes a pair's key and value vectors (head size floats each) at `position`.
void store_position(const KvLayout &layout, char *keys, char *values, int64_t pair, int64_t position, const float *key,
                    const float *value);

// For each pair in [first, last): out = softmax(scale * q . keys) . values over its n first
// positions; queries and out [pair][head size]. The keys are scored tile by tile across the pairs
// (one stream), each pair's scores go through a softmax, then the values are weighed tile by tile
// across the pairs.
void attend_pairs(const KvLayout &layout, const char *keys, const char *values, const float *queries, int64_t first, int64_t last,
                  int64_t n, float scale, float *out);

} // namespace lofi
