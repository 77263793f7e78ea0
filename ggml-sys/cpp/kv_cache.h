// The decoder's attention caches and decode-time attention over them (one query per head and
// branch against every cached position).
//
// On the CPU, with our own kernels (kv_kernels.h) over a layout made for a single query: keys
// in tiles of 64 positions, [head size][64] each, so the scores of 64 positions accumulate in
// registers along the head dimension; F32 and F16 values one row per position, int8 and int4
// values in tiles of 64 positions with a dimension's positions side by side, so the weighted sum
// accumulates along positions (for 8-bit and 4-bit values in integer dot products with the
// weights); tile t of every head side by side, so that a thread's heads read as one stream.
// Both stream the cache once, at memory speed (GGML's flash attention walked it a position at
// a time: 2.3x slower at 1500 positions).
// Elements are F32 (for F32 weights: the parity reference), F16, 8-bit (int8 with one scale per
// position and head: half the bytes of F16) or, for values only, 4-bit (a quarter): the scores
// go through a softmax that magnifies a key's error, while a value's error is averaged over the
// positions attended to.
//
// On an accelerator, GGML's flash attention over F16 caches [head size, positions, heads,
// branches].
#pragma once

#include <cstdint>

#include "ggml.h"
#include "kv_elements.h"

namespace lofi {

// The types there are: "f32", "f16", "int8" (keys and values alike) and "int8-int4" (int8 keys,
// 4-bit values). kv_type_named: false for any other name.
const char *kv_type_name(KvType type);
bool kv_type_named(const char *name, KvType &type);

// Whether GGML's flash attention on an accelerator reads it (F32 or F16 throughout).
bool kv_type_on_accelerators(KvType type);

struct KvCache {
    KvType type;
    bool cpu_kernels = true; // false: GGML's flash attention on an accelerator
    int64_t head_size = 0, heads = 0, branches = 0, capacity = 0;
    int64_t runs = 1; // the CPU layout's runs of pairs: the threads that attend (kv_kernels.h)
    ggml_tensor *k = nullptr, *v = nullptr;
    // Set when a graph is built (kv_write, kv_write_attend) or computed again (kv_write_at), read
    // by the CPU kernels when it computes: where the graph writes, and how many positions are
    // then filled.
    int64_t at = 0, filled = 0;
};

// Creates the cache tensors in ctx (no data: allocated with the context). The CPU layout
// supports any type, its pairs laid out for `threads` threads; an accelerator those of
// kv_type_on_accelerators.
void kv_cache_init(ggml_context *ctx, KvCache &cache, KvType type, bool cpu_kernels, int64_t head_size, int64_t heads,
                   int64_t branches, int64_t capacity, int64_t threads);

// The bytes one cached position takes on the CPU (keys and values, all heads and branches).
size_t kv_bytes_per_position(KvType type, int64_t head_size, int64_t heads, int64_t branches);

// The cache as written by a graph: attention in the same graph reads these (so it follows the
// writes).
struct KvWritten {
    ggml_tensor *k, *v;
};

// Adds the writes of keys and values x ([head size * heads, n, b]: n positions of the first b
// branches) at positions [at, at + n).
KvWritten kv_write(ggml_context *ctx, ggml_cgraph *graph, KvCache &cache, ggml_tensor *x_k, ggml_tensor *x_v, int64_t at);

// Moves the CPU graph's writes of n positions to [at, at + n), for its next compute. An
// accelerator's graph holds its positions in views: it is built again instead.
void kv_write_at(KvCache &cache, int64_t at, int64_t n);

// What a graph that writes nothing reads.
KvWritten kv_as_is(const KvCache &cache);

// Attention of q ([head size * heads, branches]) over the first cache.filled positions:
// softmax(q.k / sqrt(head size)) . v, [head size * heads, branches], q with the cache's branches.
ggml_tensor *kv_attend(ggml_context *ctx, const KvCache &cache, KvWritten written, ggml_tensor *q);

// kv_write, then kv_attend over the positions then filled: on the CPU in one node (each thread
// writes the heads it reads next), kv_write_at moving its writes as kv_write's.
ggml_tensor *kv_write_attend(ggml_context *ctx, ggml_cgraph *graph, KvCache &cache, ggml_tensor *x_k, ggml_tensor *x_v, ggml_tensor *q,
                             int64_t at);

} // namespace lofi
