#include "kv_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu_features.h"
#include "kv_tiles.h"
#include "nearest_int.h"
#include "thread_share.h"
#include "tiles_ahead.h"

namespace lofi {

namespace kv {

// (kv_tiles.h.) The largest magnitude is found in 8 independent maxima, without a branch per
// element (a compare and branch each was a third of storing a step's keys and values) and in
// vector registers.
float vector_scale(KvElement element, const float *x, int64_t n) {
    float maxima[8] = {};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int j = 0; j < 8; j++) {
            maxima[j] = std::max(maxima[j], std::fabs(x[i + j]));
        }
    }
    for (; i < n; i++) {
        maxima[0] = std::max(maxima[0], std::fabs(x[i]));
    }
    const float largest = *std::max_element(maxima, maxima + 8);
    switch (element) {
    case KvElement::int8:
        return largest / 127.0f;
    case KvElement::int4: {
        const float top = largest == 0.0f ? 0.0f : *std::find_if(x, x + n, [&](float v) { return std::fabs(v) == largest; });
        return top / -8.0f;
    }
    default:
        return 1.0f;
    }
}

Int8Parts split_int8(const float *x, int64_t n, int8_t *high, int8_t *low) {
    Int8Parts out{vector_scale(KvElement::int8, x, n), 0, 0};
    const float inverse = out.scale == 0.0f ? 0.0f : 1.0f / out.scale;
    for (int64_t i = 0; i < n; i++) {
        const float units = x[i] * inverse;
        const int32_t whole = nearest_int(units);
        high[i] = static_cast<int8_t>(whole);
        low[i] = static_cast<int8_t>(std::clamp(nearest_int((units - static_cast<float>(whole)) * 256.0f), -127, 127));
        out.high_sum += high[i];
        out.low_sum += low[i];
    }
    return out;
}

} // namespace kv

namespace {

using namespace kv;

int8_t to_int8(float x, float scale) { return scale == 0.0f ? 0 : static_cast<int8_t>(nearest_int(x / scale)); }

// The nibble of x: x / |scale| rounded, offset into [0, 15].
uint8_t to_nibble(float x, float scale) {
    const int32_t q = scale == 0.0f ? 0 : nearest_int(x / std::fabs(scale));
    return static_cast<uint8_t>(std::clamp(q + nibble_offset(scale), 0, 15));
}

// An element of a row or key tile (F32, F16 or int8; value tiles' int8 and 4-bit values have their own).
void put(KvElement element, char *base, int64_t index, float x, float scale) {
    switch (element) {
    case KvElement::f32:
        reinterpret_cast<float *>(base)[index] = x;
        break;
    case KvElement::f16:
        reinterpret_cast<ggml_fp16_t *>(base)[index] = ggml_fp32_to_fp16(x);
        break;
    case KvElement::int8:
        reinterpret_cast<int8_t *>(base)[index] = to_int8(x, scale);
        break;
    case KvElement::int4:
        break; // value tiles only (store_value)
    }
}

// The columns (positions) of a cache's key tiles: kKvTile, or for F32 and F16 keys of a cache
// of fewer positions (a prompt's ~20 cross-attention positions) that many rounded up to 16 (an
// AVX-512 register's), so that scoring reads no empty columns (a 64-column F16 tile read 3.2x
// the bytes of 20 positions). int8 tiles keep kKvTile (their kernels' 32-position halves).
int64_t key_columns(KvElement element, int64_t capacity) {
    if (element == KvElement::int8 || capacity <= 0 || capacity >= kKvTile) {
        return kKvTile;
    }
    return (capacity + 15) / 16 * 16;
}

// The queries of `count` pairs as KeyQuery, in buffers of the calling thread.
const KeyQuery *prepare_queries(KvElement element, int64_t dh, const float *queries, int64_t count) {
    thread_local std::vector<KeyQuery> prepared;
    thread_local std::vector<int8_t> highs, lows;
    thread_local std::vector<int16_t> high_lows;
    prepared.resize(count);
    const bool quantized = element == KvElement::int8;
    highs.resize(quantized ? count * dh : 0);
    lows.resize(highs.size());
    high_lows.resize(highs.size());
    for (int64_t i = 0; i < count; i++) {
        KeyQuery &query = prepared[i];
        query = {queries + i * dh, nullptr, nullptr, nullptr, {1.0f, 0, 0}};
        if (quantized) {
            int8_t *high = highs.data() + i * dh, *low = lows.data() + i * dh;
            int16_t *high_low = high_lows.data() + i * dh;
            query.parts = split_int8(query.q, dh, high, low);
            for (int64_t d = 0; d < dh; d++) {
                high_low[d] = static_cast<int16_t>(high[d] * 256 + low[d]);
            }
            query.high = high, query.low = low, query.high_low = high_low;
        }
    }
    return prepared.data();
}

// Tiles on from the one computed that a pass asks L2 for: ~17 kB of int8 keys, ~9 kB of int4
// values ahead.
constexpr int64_t kTilesAheadToL2 = 4;

// A value tile's scales, to write.
float *value_scales(KvElement element, char *tile, int64_t dh) {
    return const_cast<float *>(kv::value_scales(element, static_cast<const char *>(tile), dh));
}

// The elements of tile t of a head's values (int4's first tile is int8).
KvElement value_tile_element(KvElement element, int64_t t) { return element == KvElement::int4 && t == 0 ? KvElement::int8 : element; }

// Where tile t of one head's values would start were its tiles one after another.
size_t value_tile_offset(KvElement element, int64_t dh, int64_t t) {
    if (element != KvElement::int4 || t == 0) {
        return t * value_tile_bytes(element, dh);
    }
    return value_tile_bytes(KvElement::int8, dh) + (t - 1) * value_tile_bytes(KvElement::int4, dh);
}

// Tiles a pass over n positions reads.
int64_t tiles_in(int64_t n) { return (n + kKvTile - 1) / kKvTile; }

// The key or value tiles of pairs [first, first + width) over n positions in the order a pass
// reads them, tile by tile across the pairs, as the prefetches see them: tile k is tile k / width
// of pair first + k % width. Their addresses are listed once, in `tiles` (the calling thread's
// buffer): looked up for each tile, with two divisions by the width a lookup, they took ~10 % of
// the attention's time held in cache on Zen 4 at avx2.
struct PassTiles {
    struct Tile {
        const char *at;
        size_t bytes;
    };

    PassTiles(const KvLayout &layout, const char *base, bool values, int64_t first, int64_t width, int64_t n, std::vector<Tile> &tiles)
        : tiles(tiles) {
        tiles.clear();
        KvLayout::Run run = layout.run_of(first); // a thread's pairs: one run
        for (int64_t t = 0; t < tiles_in(n); t++) {
            const size_t bytes = values ? layout.value_tile_bytes(t) : layout.key_tile_bytes();
            for (int64_t pair = first; pair < first + width; pair++) {
                run = run.holds(pair) ? run : layout.run_of(pair);
                tiles.push_back({base + (values ? layout.value_offset(t, pair, run) : layout.key_offset(t, pair, run)), bytes});
            }
        }
    }

    int64_t count() const { return static_cast<int64_t>(tiles.size()); }
    const char *at(int64_t k) const { return tiles[k].at; }

    // What to ask for while tile k is computed, never past the pass's last tile: the later tiles
    // hold no positions yet, and asking for them read ~26 kB a head and layer for nothing.
    TilesAhead ahead_of(int64_t k) const {
        const int64_t far = k + kTilesAheadToL2;
        if (k + 1 >= count()) {
            return {};
        }
        return far < count() ? TilesAhead(tiles[k + 1].at, tiles[k + 1].bytes, tiles[far].at, tiles[far].bytes)
                             : TilesAhead(tiles[k + 1].at, tiles[k + 1].bytes, nullptr, 0);
    }

    // Asks L2 for the pass's first tiles, so that it starts on them rather than on memory.
    void ask_for_start() const {
#ifdef LOFI_X86
        for (int64_t k = 0; k < std::min(count(), kTilesAheadToL2); k++) {
            prefetch_to_l2(tiles[k].at, tiles[k].bytes);
        }
#endif
    }

    std::vector<Tile> &tiles;
};

// The kernels of this CPU's level (cpu_features.h).
const Kernels &kernels() {
    static const Kernels chosen = [] {
#ifdef LOFI_X86
        switch (cpu_kernels()) {
        case CpuKernels::avx512_vnni:
            return avx512_vnni_kernels();
        case CpuKernels::avx_vnni:
            return avx_vnni_kernels();
        case CpuKernels::avx2:
            return avx2_kernels();
        case CpuKernels::portable:
        case CpuKernels::neon_dotprod:
            break;
        }
#endif
#ifdef LOFI_ARM
        if (cpu_kernels() == CpuKernels::neon_dotprod) {
            return neon_dotprod_kernels();
        }
#endif
        return portable_kernels();
    }();
    return chosen;
}

// The portable kernels, for head sizes the vector ones do not take.
const Kernels &portable() {
    static const Kernels kernels = portable_kernels();
    return kernels;
}

// The vector kernels take whole runs of 8 dimensions (of 16 for int4, and for AVX-512, a
// register; of 32 for neon-dotprod's, two runs of registers).
bool vectorizable(KvElement element, int64_t dh) {
    if (cpu_kernels() == CpuKernels::neon_dotprod) {
        return dh % 32 == 0;
    }
    return dh % (element == KvElement::int4 || cpu_kernels() == CpuKernels::avx512_vnni ? 16 : 8) == 0;
}

// The kernel that weighs a value tile of these elements.
auto value_kernel(KvElement element, int64_t dh) {
    const bool vector = vectorizable(element, dh);
    if (has_scale(element)) {
        return (vector ? kernels() : portable()).weighted_tile;
    }
    return (vector ? kernels() : portable()).weighted_rows;
}

// x[i] = exp(scale * x[i] - m) / sum over i < n, m the largest scale * x[i] (GGML's soft_max_ext
// without a mask), in place.
float exponentials(float *x, int64_t n, float scale) { return kernels().exponentials(x, n, scale); }

// Dimensions a store quantizes at a time (in vector registers), then places.
constexpr int64_t kStoreRun = 64;

void store_key(KvElement element, int64_t dh, int64_t columns, const float *key, char *tile, int64_t column) {
    const float scale = vector_scale(element, key, dh);
    if (element == KvElement::int8 && dh % 4 == 0) {
        // A position's groups of 4 dimensions lie 256 bytes apart (key_index): one 32-bit store
        // each, of values quantized together. Byte by byte, storing took ~1 % of a step.
        for (int64_t first = 0; first < dh; first += kStoreRun) {
            const int64_t run = std::min(kStoreRun, dh - first);
            int8_t q[kStoreRun];
            for (int64_t d = 0; d < run; d++) {
                q[d] = to_int8(key[first + d], scale);
            }
            for (int64_t d = 0; d < run; d += 4) {
                std::memcpy(tile + key_index(element, columns, first + d, column), q + d, 4);
            }
        }
    } else {
        for (int64_t d = 0; d < dh; d++) {
            put(element, tile, key_index(element, columns, d, column), key[d], scale);
        }
    }
    if (has_scale(element)) {
        reinterpret_cast<float *>(tile + elements_bytes(element, key_tile_elements(element, dh, columns)))[column] = scale;
    }
}

// `element`: the tile's (value_tile_element). An int8 or int4 value of dimension d is a byte or
// nibble of the 32-bit word d of the position's group (value_byte): the words are rewritten in
// place, their other positions' bits kept.
void store_value(KvElement element, int64_t dh, const float *value, char *tile, int64_t column) {
    if (!has_scale(element)) {
        for (int64_t d = 0; d < dh; d++) {
            put(element, tile + column * elements_bytes(element, dh), d, value[d], 1.0f);
        }
        return;
    }
    const float scale = vector_scale(element, value, dh);
    const bool nibbles = element == KvElement::int4;
    const int shift = 8 * static_cast<int>(column % 4) + (nibbles ? value_shift(column) : 0);
    const uint32_t mask = (nibbles ? 0x0Fu : 0xFFu) << shift;
    char *words = tile + value_byte(element, dh, 0, column) - column % 4;
    for (int64_t first = 0; first < dh; first += kStoreRun) {
        const int64_t run = std::min(kStoreRun, dh - first);
        uint32_t q[kStoreRun];
        for (int64_t d = 0; d < run; d++) {
            const float x = value[first + d];
            q[d] = static_cast<uint32_t>(nibbles ? to_nibble(x, scale) : static_cast<uint8_t>(to_int8(x, scale))) << shift;
        }
        for (int64_t d = 0; d < run; d++) {
            uint32_t word;
            std::memcpy(&word, words + 4 * (first + d), 4);
            word = (word & ~mask) | q[d];
            std::memcpy(words + 4 * (first + d), &word, 4);
        }
    }
    value_scales(element, tile, dh)[column] = scale;
}

} // namespace

int64_t KvLayout::key_columns() const { return lofi::key_columns(type.key, capacity); }

size_t KvLayout::key_tile_bytes() const { return kv::key_tile_bytes(type.key, head_size, key_columns()); }

KvLayout::Run KvLayout::run_of(int64_t pair) const {
    // thread_share's run r is [pairs * r / runs, pairs * (r + 1) / runs): pair's is the last r
    // whose first pair is at most pair.
    const int64_t r = ((pair + 1) * runs - 1) / pairs;
    int64_t first = 0, end = 0;
    thread_share(pairs, static_cast<int>(r), static_cast<int>(runs), first, end);
    return {first, end - first};
}

size_t KvLayout::key_offset(int64_t t, int64_t pair, const Run &run) const {
    return (run.first * tiles_in(capacity) + t * run.width + pair - run.first) * key_tile_bytes();
}

size_t KvLayout::value_tile_bytes(int64_t t) const {
    if (!has_scale(type.value)) {
        return std::min(kKvTile, capacity - t * kKvTile) * elements_bytes(type.value, head_size);
    }
    return kv::value_tile_bytes(value_tile_element(type.value, t), head_size);
}

size_t KvLayout::value_offset(int64_t t, int64_t pair, const Run &run) const {
    return run.first * pair_values_bytes() + run.width * value_tile_offset(type.value, head_size, t) + (pair - run.first) * value_tile_bytes(t);
}

size_t KvLayout::pair_values_bytes() const {
    const int64_t last = tiles_in(capacity) - 1;
    return capacity > 0 ? value_tile_offset(type.value, head_size, last) + value_tile_bytes(last) : 0;
}

size_t KvLayout::keys_bytes() const { return pairs * tiles_in(capacity) * key_tile_bytes(); }

size_t KvLayout::values_bytes() const { return pairs * pair_values_bytes(); }

size_t KvLayout::bytes_per_position() const {
    return pairs * (kv::key_tile_bytes(type.key, head_size, kKvTile) + kv::value_tile_bytes(type.value, head_size)) / kKvTile;
}

void store_position(const KvLayout &layout, char *keys, char *values, int64_t pair, int64_t position, const float *key,
                    const float *value) {
    const int64_t t = position / kKvTile, column = position % kKvTile;
    store_key(layout.type.key, layout.head_size, layout.key_columns(), key, keys + layout.key_offset(t, pair), column);
    store_value(value_tile_element(layout.type.value, t), layout.head_size, value, values + layout.value_offset(t, pair), column);
}

void attend_pairs(const KvLayout &layout, const char *keys, const char *values, const float *queries, int64_t first, int64_t last,
                  int64_t n, float scale, float *out) {
    const int64_t dh = layout.head_size, width = last - first, tiles = tiles_in(n);
    if (width <= 0) {
        return;
    }
    const KvElement key = layout.type.key;
    const auto scores_of = (vectorizable(key, dh) ? kernels() : portable()).scores;
    const int64_t columns = layout.key_columns();
    const KeyQuery *prepared = prepare_queries(key, dh, queries + first * dh, width);
    thread_local std::vector<float> weights, inverse_sums; // [pair][n], [pair]
    thread_local std::vector<PassTiles::Tile> key_tiles, value_tiles;
    weights.resize(width * n);
    inverse_sums.resize(width);
    const PassTiles key_pass{layout, keys, false, first, width, n, key_tiles};
    const PassTiles value_pass{layout, values, true, first, width, n, value_tiles};

    key_pass.ask_for_start();
    for (int64_t t = 0, k = 0; t < tiles; t++) {
        const int64_t m = std::min(kKvTile, n - t * kKvTile);
        for (int64_t i = 0; i < width; i++, k++) {
            TilesAhead ahead = key_pass.ahead_of(k);
            scores_of(key, dh, prepared[i], key_pass.at(k), columns, m, weights.data() + i * n + t * kKvTile, ahead);
        }
    }
    value_pass.ask_for_start(); // read after the softmax
    for (int64_t i = 0; i < width; i++) {
        inverse_sums[i] = exponentials(weights.data() + i * n, n, scale);
    }
    std::fill(out + first * dh, out + last * dh, 0.0f);
    for (int64_t t = 0, k = 0; t < tiles; t++) {
        const int64_t m = std::min(kKvTile, n - t * kKvTile);
        const KvElement element = value_tile_element(layout.type.value, t);
        const auto weigh = value_kernel(element, dh);
        for (int64_t i = 0; i < width; i++, k++) {
            TilesAhead ahead = value_pass.ahead_of(k);
            weigh(element, dh, weights.data() + i * n + t * kKvTile, value_pass.at(k), m, out + (first + i) * dh, ahead);
        }
    }
    for (int64_t i = 0; i < width; i++) { // the softmax's denominator
        float *row = out + (first + i) * dh;
        std::transform(row, row + dh, row, [&](float x) { return x * inverse_sums[i]; });
    }
}

} // namespace lofi
