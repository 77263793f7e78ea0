#include "kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kv_kernels.h"
#include "thread_share.h"

namespace lofi {

namespace {

// The CPU layout (kv_kernels.h): keys and values as bytes of type I8 (the kernels read the
// elements); head h of branch b is pair b * heads + h, so the first branches' pairs come first.
KvLayout layout_of(const KvCache &cache) {
    return {cache.type, cache.head_size, cache.heads * cache.branches, cache.capacity, cache.runs};
}

// Custom ops. GGML calls one with every compute thread (ith of nth), whatever its task count:
// each thread takes its share of the pairs.

// Writes the keys and values x_k and x_v ([width, n, branches]) of pairs [begin, end) into the
// cache at positions [at, at + n) (a byte of 4-bit values holds two positions: a pair's are
// written by one thread).
void write_pairs(const KvCache &cache, const ggml_tensor *x_k, const ggml_tensor *x_v, int64_t begin, int64_t end) {
    const KvLayout layout = layout_of(cache);
    const int64_t width = x_k->ne[0], n = x_k->ne[1];
    for (int64_t pair = begin; pair < end; pair++) {
        const int64_t h = pair % cache.heads, b = pair / cache.heads;
        for (int64_t j = 0; j < n; j++) {
            const int64_t at = (b * n + j) * width + h * cache.head_size;
            store_position(layout, static_cast<char *>(cache.k->data), static_cast<char *>(cache.v->data), pair, cache.at + j,
                           static_cast<const float *>(x_k->data) + at, static_cast<const float *>(x_v->data) + at);
        }
    }
}

// In place on the values: writes x_k and x_v (src[1], src[2]), the keys beside them.
void write_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const KvCache &cache = *static_cast<const KvCache *>(userdata);
    int64_t begin = 0, end = 0;
    thread_share(dst->src[1]->ne[2] * cache.heads, ith, nth, begin, end);
    write_pairs(cache, dst->src[1], dst->src[2], begin, end);
}

// softmax(q.k * this) . v.
float attention_scale(int64_t head_size) { return 1.0f / std::sqrt(static_cast<float>(head_size)); }

// dst [head size * heads, branches] = each head's attention over the cache (attend_pairs); src:
// q, keys, values, and where the graph writes positions first, their keys and values x_k, x_v: a
// thread writes its pairs' (so the lines it reads next are in its cache, and no node of writes
// and its barrier comes between). A thread takes a run of the pairs (kv_kernels.h's layout reads
// them as one stream).
void attend_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const KvCache &cache = *static_cast<const KvCache *>(userdata);
    const ggml_tensor *q = dst->src[0], *keys = dst->src[1], *values = dst->src[2];
    const int64_t dh = cache.head_size, cached = cache.heads * cache.branches;
    auto *out = static_cast<float *>(dst->data);
    int64_t begin = 0, end = 0;
    thread_share(cached, ith, nth, begin, end);
    if (dst->src[3] != nullptr) {
        write_pairs(cache, dst->src[3], dst->src[4], begin, std::min(end, dst->src[3]->ne[2] * cache.heads));
    }
    attend_pairs(layout_of(cache), static_cast<const char *>(keys->data), static_cast<const char *>(values->data),
                 static_cast<const float *>(q->data), begin, end, cache.filled, attention_scale(dh), out);
}

// attend_op's node; args: its sources.
ggml_tensor *cpu_attend(ggml_context *ctx, const KvCache &cache, ggml_tensor **args, int n_args) {
    GGML_ASSERT(args[0]->ne[1] == cache.branches); // a query for each branch the cache holds
    return ggml_set_name(ggml_custom_4d(ctx, GGML_TYPE_F32, cache.head_size * cache.heads, args[0]->ne[1], 1, 1, args, n_args, attend_op,
                                        GGML_N_TASKS_MAX, const_cast<KvCache *>(&cache)),
                         "attend");
}

// Accelerator layout: [head size, positions, heads, branches], GGML types.
ggml_tensor *positions_view(ggml_context *ctx, ggml_tensor *cache, int64_t from, int64_t n, int64_t branches) {
    return ggml_view_4d(ctx, cache, cache->ne[0], n, cache->ne[2], branches, cache->nb[1], cache->nb[2], cache->nb[3], from * cache->nb[1]);
}

struct NamedKvType {
    const char *name;
    KvType type;
};

constexpr NamedKvType kKvTypes[] = {
    {"f32", {KvElement::f32, KvElement::f32}},
    {"f16", {KvElement::f16, KvElement::f16}},
    {"int8", {KvElement::int8, KvElement::int8}},
    {"int8-int4", {KvElement::int8, KvElement::int4}},
};

} // namespace

const char *kv_type_name(KvType type) {
    for (const NamedKvType &named : kKvTypes) {
        if (named.type.key == type.key && named.type.value == type.value) {
            return named.name;
        }
    }
    return "?";
}

bool kv_type_named(const char *name, KvType &type) {
    for (const NamedKvType &named : kKvTypes) {
        if (std::strcmp(named.name, name) == 0) {
            type = named.type;
            return true;
        }
    }
    return false;
}

bool kv_type_on_accelerators(KvType type) {
    return type.key == type.value && (type.key == KvElement::f32 || type.key == KvElement::f16);
}

void kv_cache_init(ggml_context *ctx, KvCache &cache, KvType type, bool cpu_kernels, int64_t head_size, int64_t heads,
                   int64_t branches, int64_t capacity, int64_t threads) {
    cache = KvCache{type, cpu_kernels, head_size, heads, branches, capacity, std::clamp<int64_t>(threads, 1, heads * branches)};
    if (cpu_kernels) {
        const KvLayout layout = layout_of(cache);
        cache.k = ggml_new_tensor_1d(ctx, GGML_TYPE_I8, static_cast<int64_t>(layout.keys_bytes()));
        cache.v = ggml_new_tensor_1d(ctx, GGML_TYPE_I8, static_cast<int64_t>(layout.values_bytes()));
    } else {
        const ggml_type element = type.key == KvElement::f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
        cache.k = ggml_new_tensor_4d(ctx, element, head_size, capacity, heads, branches);
        cache.v = ggml_new_tensor_4d(ctx, element, head_size, capacity, heads, branches);
    }
}

size_t kv_bytes_per_position(KvType type, int64_t head_size, int64_t heads, int64_t branches) {
    return KvLayout{type, head_size, heads * branches, 0}.bytes_per_position();
}

KvWritten kv_write(ggml_context *ctx, ggml_cgraph *graph, KvCache &cache, ggml_tensor *x_k, ggml_tensor *x_v, int64_t at) {
    const int64_t n = x_k->ne[1];
    kv_write_at(cache, at, n);
    if (cache.cpu_kernels) {
        // One node writes keys and values (the keys in place beside them): it returns the values,
        // and attention reads the keys through it.
        ggml_tensor *args[2] = {x_k, x_v};
        ggml_tensor *v = ggml_set_name(ggml_custom_inplace(ctx, cache.v, args, 2, write_op, GGML_N_TASKS_MAX, &cache), "cache write");
        ggml_build_forward_expand(graph, v);
        return {cache.k, v};
    }
    const int64_t dh = cache.head_size, heads = cache.heads, branches = x_k->ne[2];
    // [dh, heads, n, branches] -> [dh, n, heads, branches]
    auto by_head = [&](ggml_tensor *x) { return ggml_permute(ctx, ggml_reshape_4d(ctx, x, dh, heads, n, branches), 0, 2, 1, 3); };
    ggml_build_forward_expand(graph, ggml_cpy(ctx, by_head(x_k), positions_view(ctx, cache.k, at, n, branches)));
    ggml_build_forward_expand(graph, ggml_cpy(ctx, by_head(x_v), positions_view(ctx, cache.v, at, n, branches)));
    return kv_as_is(cache);
}

void kv_write_at(KvCache &cache, int64_t at, int64_t n) {
    cache.at = at;
    cache.filled = at + n;
}

KvWritten kv_as_is(const KvCache &cache) { return {cache.k, cache.v}; }

ggml_tensor *kv_attend(ggml_context *ctx, const KvCache &cache, KvWritten written, ggml_tensor *q) {
    const int64_t dh = cache.head_size, heads = cache.heads, branches = cache.branches, n = cache.filled;
    if (cache.cpu_kernels) {
        ggml_tensor *args[3] = {q, written.k, written.v};
        return cpu_attend(ctx, cache, args, 3);
    }
    ggml_tensor *queries = ggml_permute(ctx, ggml_reshape_4d(ctx, q, dh, heads, 1, branches), 0, 2, 1, 3); // [dh, 1, heads, branches]
    ggml_tensor *out = ggml_flash_attn_ext(ctx, queries, positions_view(ctx, written.k, 0, n, branches),
                                           positions_view(ctx, written.v, 0, n, branches), nullptr, attention_scale(dh), 0.0f,
                                           0.0f);
    ggml_prec_set_acc(out, GGML_PREC_F32);
    return ggml_reshape_2d(ctx, out, dh * heads, branches); // out: [dh, heads, 1, branches]
}

ggml_tensor *kv_write_attend(ggml_context *ctx, ggml_cgraph *graph, KvCache &cache, ggml_tensor *x_k, ggml_tensor *x_v, ggml_tensor *q,
                             int64_t at) {
    if (!cache.cpu_kernels) {
        return kv_attend(ctx, cache, kv_write(ctx, graph, cache, x_k, x_v, at), q);
    }
    kv_write_at(cache, at, x_k->ne[1]);
    ggml_tensor *args[5] = {q, cache.k, cache.v, x_k, x_v};
    return cpu_attend(ctx, cache, args, 5);
}

} // namespace lofi
