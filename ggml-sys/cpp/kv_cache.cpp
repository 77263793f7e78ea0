#include "kv_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kv_kernels.h"

namespace lofi {

namespace {

// CPU layout: keys [key tile bytes * tiles, heads * branches], values [values bytes, heads *
// branches], bytes of type I8 (the kernels read the elements); head h of branch b is pair
// b * heads + h, so the first branches' pairs come first.
char *pair_data(const ggml_tensor *cache, int64_t pair) { return static_cast<char *>(cache->data) + pair * cache->nb[1]; }

// Custom ops. GGML calls one with every compute thread (ith of nth), whatever its task count:
// each thread takes its share of the heads.

// Writes x (dst->src[1]: [width, n, branches]) into the cache dst at positions [at, at + n), a
// head's vectors by one thread (a byte of 4-bit values holds two positions).
void write_op(ggml_tensor *dst, int ith, int nth, const KvCache &cache, KvElement element,
              void (*store)(KvElement, int64_t, const float *, char *, int64_t)) {
    const ggml_tensor *x = dst->src[1];
    const int64_t width = x->ne[0], n = x->ne[1];
    for (int64_t pair = ith; pair < x->ne[2] * cache.heads; pair += nth) {
        const int64_t h = pair % cache.heads, b = pair / cache.heads;
        for (int64_t j = 0; j < n; j++) {
            const float *vector = static_cast<const float *>(x->data) + (b * n + j) * width + h * cache.head_size;
            store(element, cache.head_size, vector, pair_data(dst, pair), cache.at + j);
        }
    }
}

void write_keys(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const KvCache &cache = *static_cast<const KvCache *>(userdata);
    write_op(dst, ith, nth, cache, cache.type.key, store_key);
}

void write_values(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const KvCache &cache = *static_cast<const KvCache *>(userdata);
    write_op(dst, ith, nth, cache, cache.type.value, store_value);
}

// softmax(q.k * this) . v.
float attention_scale(int64_t head_size) { return 1.0f / std::sqrt(static_cast<float>(head_size)); }

// dst [head size * heads, branches] = each head's attention: its query's scores against its
// keys, their softmax, its values weighted by them; src: q, keys, values. One node (three were
// a barrier each), the scores in the calling thread's buffer. A branch past the cache's own
// attends to zero keys and values: its output is 0.
void attend_op(ggml_tensor *dst, int ith, int nth, void *userdata) {
    const KvCache &cache = *static_cast<const KvCache *>(userdata);
    const ggml_tensor *q = dst->src[0], *keys = dst->src[1], *values = dst->src[2];
    const int64_t n = cache.filled, dh = cache.head_size;
    const float scale = attention_scale(dh);
    thread_local std::vector<float> weights;
    weights.resize(n);
    for (int64_t pair = ith; pair < cache.heads * dst->ne[1]; pair += nth) {
        if (pair >= cache.heads * cache.branches) {
            std::fill_n(static_cast<float *>(dst->data) + pair * dh, dh, 0.0f);
            continue;
        }
        key_scores(cache.type.key, dh, static_cast<const float *>(q->data) + pair * dh, pair_data(keys, pair), n, weights.data());
        ask_for_values(cache.type.value, dh, pair_data(values, pair), n); // read after the softmax
        if (pair + nth < cache.heads * cache.branches) {
            ask_for_keys(cache.type.key, dh, pair_data(keys, pair + nth), n); // read after these values
        }
        softmax(weights.data(), n, scale);
        weighted_values(cache.type.value, dh, weights.data(), pair_data(values, pair), n, static_cast<float *>(dst->data) + pair * dh);
    }
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
                   int64_t branches, int64_t capacity) {
    cache = KvCache{type, cpu_kernels, head_size, heads, branches, capacity};
    if (cpu_kernels) {
        const int64_t tiles = (capacity + kKeyTile - 1) / kKeyTile;
        cache.k = ggml_new_tensor_2d(ctx, GGML_TYPE_I8, static_cast<int64_t>(key_tile_bytes(type.key, head_size)) * tiles, heads * branches);
        cache.v = ggml_new_tensor_2d(ctx, GGML_TYPE_I8, static_cast<int64_t>(values_bytes(type.value, head_size, capacity)), heads * branches);
    } else {
        const ggml_type element = type.key == KvElement::f32 ? GGML_TYPE_F32 : GGML_TYPE_F16;
        cache.k = ggml_new_tensor_4d(ctx, element, head_size, capacity, heads, branches);
        cache.v = ggml_new_tensor_4d(ctx, element, head_size, capacity, heads, branches);
    }
}

size_t kv_bytes_per_position(KvType type, int64_t head_size, int64_t heads, int64_t branches) {
    return static_cast<size_t>(branches * heads) * (key_tile_bytes(type.key, head_size) / kKeyTile + value_bytes_per_position(type.value, head_size));
}

KvWritten kv_write(ggml_context *ctx, ggml_cgraph *graph, KvCache &cache, ggml_tensor *x_k, ggml_tensor *x_v, int64_t at) {
    const int64_t n = x_k->ne[1];
    kv_write_at(cache, at, n);
    if (cache.cpu_kernels) {
        ggml_tensor *k = ggml_custom_inplace(ctx, cache.k, &x_k, 1, write_keys, GGML_N_TASKS_MAX, &cache);
        ggml_tensor *v = ggml_custom_inplace(ctx, cache.v, &x_v, 1, write_values, GGML_N_TASKS_MAX, &cache);
        ggml_build_forward_expand(graph, k);
        ggml_build_forward_expand(graph, v);
        return {k, v};
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
        return ggml_custom_4d(ctx, GGML_TYPE_F32, dh * heads, q->ne[1], 1, 1, args, 3, attend_op, GGML_N_TASKS_MAX,
                              const_cast<KvCache *>(&cache));
    }
    ggml_tensor *queries = ggml_permute(ctx, ggml_reshape_4d(ctx, q, dh, heads, 1, branches), 0, 2, 1, 3); // [dh, 1, heads, branches]
    ggml_tensor *out = ggml_flash_attn_ext(ctx, queries, positions_view(ctx, written.k, 0, n, branches),
                                           positions_view(ctx, written.v, 0, n, branches), nullptr, attention_scale(dh), 0.0f,
                                           0.0f);
    ggml_prec_set_acc(out, GGML_PREC_F32);
    return ggml_reshape_2d(ctx, out, dh * heads, branches); // out: [dh, heads, 1, branches]
}

} // namespace lofi
