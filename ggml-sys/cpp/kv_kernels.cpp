#include "kv_kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cpu_features.h"
#include "nearest_int.h"
#include "thread_share.h"
#include "tiles_ahead.h"

// GCC 12's AVX-512 headers start some intrinsics (_mm512_cvtepi32_ps, _mm512_max_ps, ...) from
// an undefined vector (`__Y = __Y`), which -Wuninitialized reports where they are inlined here:
// the headers' idiom, not a read of ours.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include "cpu_neon.h"
#include "cpu_simd.h"

namespace lofi {

namespace {

// Bytes of `n` elements (int4: two to a byte).
size_t elements_bytes(KvElement element, int64_t n) {
    switch (element) {
    case KvElement::f32:
        return 4 * n;
    case KvElement::f16:
        return 2 * n;
    case KvElement::int8:
        return n;
    case KvElement::int4:
        return (n + 1) / 2;
    }
    return 0;
}

bool has_scale(KvElement element) { return element == KvElement::int8 || element == KvElement::int4; }

// The scale of a vector: int8 maps its largest magnitude to 127; int4 maps the element of
// largest magnitude (the first such) to 8 units exactly, whichever its sign (as GGML's Q4_0 maps
// it to -8): the scale's sign says which (nibble_offset). The largest magnitude is found in 8
// independent maxima, without a branch per element (a compare and branch each was a third of
// storing a step's keys and values) and in vector registers.
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

int8_t to_int8(float x, float scale) { return scale == 0.0f ? 0 : static_cast<int8_t>(nearest_int(x / scale)); }

// A nibble n of a 4-bit value holds (n - offset) * |scale|: offset 8 where the scale is positive
// (values in [-8, 7] units, the extreme at -8), 7 where it is negative (in [-7, 8], the extreme
// at 8). So a value's sign never rides on its scale, and the value kernels' weights times |scale|
// are never negative: one unsigned byte each (TileWeights).
int32_t nibble_offset(float scale) { return scale < 0.0f ? 7 : 8; }

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

float get(KvElement element, const char *base, int64_t index) {
    switch (element) {
    case KvElement::f32:
        return reinterpret_cast<const float *>(base)[index];
    case KvElement::f16:
        return ggml_fp16_to_fp32(reinterpret_cast<const ggml_fp16_t *>(base)[index]);
    case KvElement::int8:
        return reinterpret_cast<const int8_t *>(base)[index];
    case KvElement::int4:
        break; // value tiles only
    }
    return 0.0f;
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

// Where element (d, column) of a key tile of `columns` columns lives: [head size][columns] for
// floats; for int8, [head size / 4][kKvTile][4], so each position's dimensions come four to a
// 32-bit lane for the integer dot products of the vector kernels.
int64_t key_index(KvElement element, int64_t columns, int64_t d, int64_t column) {
    return element == KvElement::int8 ? (d / 4 * kKvTile + column) * 4 + d % 4 : d * columns + column;
}

// Elements of a key tile: int8 rounds the head size up to whole groups of 4.
int64_t key_tile_elements(KvElement element, int64_t dh, int64_t columns) {
    return (element == KvElement::int8 ? (dh + 3) / 4 * 4 : dh) * columns;
}

// x ~ scale * (high + low / 256) in two int8 parts: high with its largest magnitude at 127,
// low the rest; `sums` are each part's sum (the unsigned operands' offsets are taken off with
// them).
struct Int8Parts {
    float scale;
    int32_t high_sum, low_sum;
};

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

// A pair's query as the key kernels take it: for int8 keys also in two int8 parts (one part
// alone moved a greedy token of the fixture: its error adds to the keys'), and for AVX2's madd
// those as one int16, high * 256 + low (within int16: |high * 256 + low| <= 127 * 257).
struct KeyQuery {
    const float *q;
    const int8_t *high, *low;
    const int16_t *high_low;
    Int8Parts parts;
};

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

// A key or value tile's scales follow its `elements` elements (none for F32 and F16).
const float *scales_of(KvElement element, const char *base, int64_t elements) {
    return has_scale(element) ? reinterpret_cast<const float *>(base + elements_bytes(element, elements)) : nullptr;
}

size_t key_tile_bytes(KvElement element, int64_t dh, int64_t columns) {
    return elements_bytes(element, key_tile_elements(element, dh, columns)) + (has_scale(element) ? columns * sizeof(float) : 0);
}

// A key tile's scales (one per position), nullptr for F32 and F16 (only int8 keys have them,
// in tiles of kKvTile columns).
const float *key_scales(KvElement element, const char *tile, int64_t dh) {
    return scales_of(element, tile, key_tile_elements(element, dh, kKvTile));
}

// scores[i] += q[d] * key (d, i) for dimensions [d, d + Dims) and positions [0, m), a dimension's
// keys `step` elements apart: the positions in the inner loop, which a compiler vectorises, and
// each position's sum in the order of its dimensions. An int8 tile's groups of four dimensions
// (a position's four bytes side by side) go four at a time: NEON's ld4 takes them apart.
template <int Dims, typename Key>
void add_key_products(const Key *keys, int64_t step, const float *q, int64_t m, float *scores) {
    for (int64_t i = 0; i < m; i++) {
        float sum = scores[i];
        for (int k = 0; k < Dims; k++) {
            sum += q[k] * static_cast<float>(keys[step * i + k]);
        }
        scores[i] = sum;
    }
}

// scores[i] = q . key i for the m positions of one key tile of `columns` columns. The portable
// kernels ask for the tiles ahead all at once, as every kernel did before the vector ones paced
// them: their own arithmetic, not the prefetches, bounds them.
void tile_scores_portable(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m,
                          float *scores, TilesAhead &ahead) {
    ahead.ask_all();
    std::fill(scores, scores + m, 0.0f);
    if (element == KvElement::int8) {
        const auto *keys = reinterpret_cast<const int8_t *>(tile);
        int64_t d = 0;
        for (; d + 4 <= dh; d += 4) {
            add_key_products<4>(keys + key_index(element, columns, d, 0), 4, query.q + d, m, scores);
        }
        for (; d < dh; d++) {
            add_key_products<1>(keys + key_index(element, columns, d, 0), 4, query.q + d, m, scores);
        }
    } else if (element == KvElement::f32) {
        for (int64_t d = 0; d < dh; d++) {
            add_key_products<1>(reinterpret_cast<const float *>(tile) + key_index(element, columns, d, 0), 1, query.q + d, m, scores);
        }
    } else { // F16
        for (int64_t d = 0; d < dh; d++) {
            for (int64_t i = 0; i < m; i++) {
                scores[i] += query.q[d] * get(element, tile, key_index(element, columns, d, i));
            }
        }
    }
    const float *scales = key_scales(element, tile, dh);
    if (scales != nullptr) {
        for (int64_t i = 0; i < m; i++) {
            scores[i] *= scales[i];
        }
    }
}

// Value tiles: kKvTile F32 or F16 rows of one head; for int8 and int4 values kKvTile positions,
// then their f32 scales, a dimension's positions side by side, four to a 32-bit lane, so one
// 64-byte load holds 16 dimensions of 4 positions for integer dot products along the positions
// (the weighted sum): int8 as [kKvTile / 4][head size][4]; int4 as [kKvTile / 8][head size][4]
// bytes whose low nibbles are positions 8p..8p+3 and high nibbles 8p+4..8p+7, offset into
// [0, 15].
size_t value_tile_bytes(KvElement element, int64_t dh) {
    return elements_bytes(element, kKvTile * dh) + (has_scale(element) ? kKvTile * sizeof(float) : 0);
}

int64_t value_byte(KvElement element, int64_t dh, int64_t d, int64_t column) {
    const int64_t group = element == KvElement::int4 ? 8 : 4;
    return (column / group * dh + d) * 4 + column % 4;
}

int value_shift(int64_t column) { return column % 8 < 4 ? 0 : 4; } // int4

const float *value_scales(KvElement element, const char *tile, int64_t dh) { return scales_of(element, tile, kKvTile * dh); }
float *value_scales(KvElement element, char *tile, int64_t dh) {
    return const_cast<float *>(value_scales(element, static_cast<const char *>(tile), dh));
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

#ifdef LOFI_X86
// A value tile's weights times its positions' |scale|, zero past the m positions filled; the
// vector kernels' weigh_tile_* make them. For an int8 tile in two int8 parts, as split_int8
// splits the query (one part alone loses the small weights beside a large one): the first tile,
// where a decoder's largest weights sit beside small ones. For an int4 tile in one unsigned byte
// each (`bytes`, the largest at 255; `parts` holds their scale and, as high_sum, their sum times
// each position's nibble_offset, the low part 0): half the products, and a weight's rounding
// (at most 1/510 of the tile's largest) stays far under a nibble's own (1/15 of its value's
// range).
struct TileWeights {
    int8_t high[kKvTile], low[kKvTile];
    uint8_t bytes[kKvTile];
    Int8Parts parts;
};

// The largest a weight's unsigned byte (int4 tiles) or high int8 part (int8 tiles) reaches.
float weights_top(bool four_bit) { return four_bit ? 255.0f : 127.0f; }
#endif

void weighted_rows_portable(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                            TilesAhead &ahead) {
    ahead.ask_all();
    const size_t row_bytes = elements_bytes(element, dh);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t d = 0; d < dh; d++) {
            out[d] += weights[i] * get(element, rows + i * row_bytes, d);
        }
    }
}

// out[d] += w[c] * (value (d, first + c) - offset[c]) for Count positions from `first` (Count 4:
// a group's, first a multiple of 4; their bytes of a dimension side by side), the positions in
// order for each d, the dimensions in the inner loop, which a compiler vectorises.
template <bool FourBit, int Count>
void add_weighted_positions(int64_t dh, const char *tile, int64_t first, const float *w, const int32_t *offset, float *out) {
    const KvElement element = FourBit ? KvElement::int4 : KvElement::int8;
    const char *bytes = tile + value_byte(element, dh, 0, first);
    const int shift = FourBit ? value_shift(first) : 0;
    for (int64_t d = 0; d < dh; d++) {
        float sum = out[d];
        for (int c = 0; c < Count; c++) {
            const char byte = bytes[4 * d + c];
            const int32_t value = FourBit ? static_cast<uint8_t>(byte) >> shift & 0x0F : static_cast<int8_t>(byte);
            sum += w[c] * static_cast<float>(value - offset[c]);
        }
        out[d] = sum;
    }
}

template <bool FourBit>
void weighted_tile_portable_of(int64_t dh, const float *weights, const char *tile, int64_t m, float *out) {
    const KvElement element = FourBit ? KvElement::int4 : KvElement::int8;
    const float *scales = value_scales(element, tile, dh);
    float w[kKvTile];
    int32_t offsets[kKvTile];
    for (int64_t i = 0; i < m; i++) {
        w[i] = weights[i] * std::fabs(scales[i]);
        offsets[i] = FourBit ? nibble_offset(scales[i]) : 0;
    }
    int64_t i = 0;
    for (; i + 4 <= m; i += 4) {
        add_weighted_positions<FourBit, 4>(dh, tile, i, w + i, offsets + i, out);
    }
    for (; i < m; i++) {
        add_weighted_positions<FourBit, 1>(dh, tile, i, w + i, offsets + i, out);
    }
}

void weighted_tile_portable(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                            TilesAhead &ahead) {
    ahead.ask_all();
    if (element == KvElement::int4) {
        weighted_tile_portable_of<true>(dh, weights, tile, m, out);
    } else {
        weighted_tile_portable_of<false>(dh, weights, tile, m, out);
    }
}

// A softmax's numerators in place, exp(scale * x - the largest), and the inverse of their sum:
// the pass normalizes each pair's weighted values once instead of its n weights (a third pass
// over them).
float exponentials_portable(float *x, int64_t n, float scale) {
    float top = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        top = std::max(top, scale * x[i]);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = std::exp(scale * x[i] - top);
        sum += x[i];
    }
    return static_cast<float>(1.0 / sum);
}

// f(std::integral_constant<int, count>) for a count of 1 to 4 (nothing otherwise): the vector
// kernels' number of accumulators as a constant, which keeps them in registers.
template <typename F> void with_count(int64_t count, F &&f) {
    switch (count) {
    case 4:
        f(std::integral_constant<int, 4>{});
        break;
    case 3:
        f(std::integral_constant<int, 3>{});
        break;
    case 2:
        f(std::integral_constant<int, 2>{});
        break;
    case 1:
        f(std::integral_constant<int, 1>{});
        break;
    default:
        break;
    }
}

#ifdef LOFI_X86

// exponentials_portable 8 lanes at a time (exp to ~1e-7, cpu_simd.h).
LOFI_AVX2 float exponentials_avx2(float *x, int64_t n, float scale) {
    const __m256 scales = _mm256_set1_ps(scale);
    __m256 lanes = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        lanes = _mm256_max_ps(lanes, _mm256_mul_ps(scales, _mm256_loadu_ps(x + i)));
    }
    float top = largest_lane(lanes);
    for (int64_t j = i; j < n; j++) {
        top = std::max(top, scale * x[j]);
    }
    const __m256 tops = _mm256_set1_ps(top);
    __m256 sums = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp_minus(_mm256_fmsub_ps(scales, _mm256_loadu_ps(x + i), tops), _mm256_setzero_ps());
        _mm256_storeu_ps(x + i, e);
        sums = _mm256_add_ps(sums, e);
    }
    alignas(32) float parts[8];
    _mm256_store_ps(parts, sums);
    double sum = 0.0;
    for (float part : parts) {
        sum += part;
    }
    for (int64_t j = i; j < n; j++) {
        x[j] = std::exp(scale * x[j] - top);
        sum += x[j];
    }
    return static_cast<float>(1.0 / sum);
}

// 8 F32 or F16 elements as floats (int8 and int4 elements have integer kernels).
LOFI_AVX2 inline __m256 load8(KvElement element, const char *base, int64_t index) {
    if (element == KvElement::f16) {
        return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    }
    return _mm256_loadu_ps(reinterpret_cast<const float *>(base) + index);
}

// tile_scores_avx2 for int8 keys: the query's two int8 parts as one int16 (KeyQuery's
// high_low, so the integer dot products are the same), four dimensions of four positions per
// 16-byte load widened to int16 and multiplied by madd (one multiply to a pair of products;
// maddubs on the int8 parts took four and three sign fixes per 32 bytes); a position's two lanes
// are summed once a tile. 32 positions at a time: 8 accumulators.
LOFI_AVX2 void tile_scores_int8_avx2(int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores, TilesAhead &ahead) {
    ahead.pace((m + 31) / 32 * ((dh + 7) / 8));
    const __m256 to_float = _mm256_set1_ps(query.parts.scale / 256.0f);
    const __m256i in_order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7); // undoes hadd's lane interleave
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(32) float tile_scores[kKvTile];
    for (int64_t half = 0; half < m; half += 32) { // a last tile's empty half skipped
        __m256i acc[8]; // acc[i]: positions half + 4i .. + 3, two lanes each; in registers (unrolled)
#pragma GCC unroll 8
        for (__m256i &a : acc) {
            a = _mm256_setzero_si256();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            if (d % 8 == 0) { // a step's share of the tiles ahead every 8 dimensions: half the asks' overhead
                ahead.ask();
            }
            int64_t four;
            std::memcpy(&four, query.high_low + d, sizeof four);
            const __m256i qd = _mm256_set1_epi64x(four);
            const char *keys = tile + key_index(KvElement::int8, kKvTile, d, half); // the 32 positions' 128 bytes in a run
#pragma GCC unroll 8
            for (int i = 0; i < 8; i++) {
                const __m256i k = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i *>(keys + 16 * i)));
                acc[i] = _mm256_add_epi32(acc[i], _mm256_madd_epi16(k, qd));
            }
        }
#pragma GCC unroll 4
        for (int i = 0; i < 8; i += 2) {
            const __m256i dots = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(acc[i], acc[i + 1]), in_order);
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(scales + half + 4 * i), to_float);
            _mm256_store_ps(tile_scores + half + 4 * i, _mm256_mul_ps(_mm256_cvtepi32_ps(dots), scale));
        }
    }
    std::copy_n(tile_scores, m, scores);
}

// A float key tile's scores, 16 columns (two registers) times Quarters, accumulated along the
// head dimension: no horizontal sums. Quarters is a constant so that they stay in registers.
template <int Quarters>
LOFI_AVX2 void float_tile_scores_avx2(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores,
                                      TilesAhead &ahead) {
    constexpr int kRegisters = 2 * Quarters;
    ahead.pace(dh);
    __m256 acc[kRegisters];
    for (__m256 &a : acc) {
        a = _mm256_setzero_ps();
    }
    for (int64_t d = 0; d < dh; d++) {
        ahead.ask();
        const __m256 qd = _mm256_set1_ps(query.q[d]);
        for (int j = 0; j < kRegisters; j++) {
            acc[j] = _mm256_fmadd_ps(qd, load8(element, tile, d * 8 * kRegisters + 8 * j), acc[j]);
        }
    }
    alignas(32) float tile_scores[kKvTile];
    for (int j = 0; j < kRegisters; j++) {
        _mm256_store_ps(tile_scores + 8 * j, acc[j]);
    }
    std::copy_n(tile_scores, m, scores);
}

LOFI_AVX2 void tile_scores_avx2(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m,
                               float *scores, TilesAhead &ahead) {
    static_assert(kKvTile == 64, "up to 8 registers of 8 scores");
    if (element == KvElement::int8) {
        tile_scores_int8_avx2(dh, query, tile, m, scores, ahead);
        return;
    }
    with_count(columns / 16,
               [&](auto quarters) { float_tile_scores_avx2<decltype(quarters)::value>(element, dh, query, tile, m, scores, ahead); });
}

// out += the weighted F32 or F16 rows: up to 64 output dimensions at a time accumulate in
// registers along the positions.
LOFI_AVX2 void weighted_rows_avx2(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                                  TilesAhead &ahead) {
    const size_t row_bytes = elements_bytes(element, dh);
    ahead.pace((dh + 63) / 64 * n);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 8);
        __m256 acc[8];
        for (int j = 0; j < lanes; j++) {
            acc[j] = _mm256_loadu_ps(out + d0 + 8 * j);
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            ahead.ask();
            const __m256 w = _mm256_set1_ps(weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[j] = _mm256_fmadd_ps(w, load8(element, row, d0 + 8 * j), acc[j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm256_storeu_ps(out + d0 + 8 * j, acc[j]);
        }
    }
}

// acc + the products of 32 unsigned and signed bytes, each four's summed (maddubs' pairs stay
// within int16 for the operands weighted_tile_avx2 gives it).
LOFI_AVX2 inline __m256i add_products(__m256i acc, __m256i u, __m256i s) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
}

// out += scale * ((high - offset * high_sum) + (low - offset * low_sum) / 256), 8 dimensions.
LOFI_AVX2 inline void add_weighted_dot(float *out, __m256i high, __m256i low, const Int8Parts &parts, int32_t offset) {
    const __m256 dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(low, _mm256_set1_epi32(offset * parts.low_sum))),
                                       _mm256_set1_ps(1.0f / 256.0f),
                                       _mm256_cvtepi32_ps(_mm256_sub_epi32(high, _mm256_set1_epi32(offset * parts.high_sum))));
    _mm256_storeu_ps(out, _mm256_fmadd_ps(dot, _mm256_set1_ps(parts.scale), _mm256_loadu_ps(out)));
}

// The tile's weights (TileWeights) 8 lanes at a time, in registers (masked loads: no weight past
// the m positions filled is read; zeroed arrays on the stack cost a `rep stos` each, slow to
// start on AMD's cores: 35 % of this function on Zen 4); an int8 tile's as split_int8's parts (it
// rounds a value at a time). False when they are all zero (the tile adds nothing).
LOFI_AVX2 bool weigh_tile_avx2(const float *weights, const float *scales, int64_t m, bool four_bit, TileWeights &out) {
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 scaled[kKvTile / 8];
    __m256 top = _mm256_setzero_ps();
    for (int j = 0; j < kKvTile / 8; j++) {
        const __m256i filled = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int32_t>(m - 8 * j)), lane);
        const __m256 scale = _mm256_and_ps(_mm256_maskload_ps(scales + 8 * j, filled), magnitude);
        scaled[j] = _mm256_mul_ps(_mm256_maskload_ps(weights + 8 * j, filled), scale); // weights >= 0: so is this
        top = _mm256_max_ps(top, scaled[j]);
    }
    const float largest = largest_lane(top);
    if (largest == 0.0f) {
        return false;
    }
    out.parts = {largest / weights_top(four_bit), 0, 0};
    const __m256 inverse = _mm256_set1_ps(1.0f / out.parts.scale);
    const __m256i most = _mm256_set1_epi32(127), least = _mm256_set1_epi32(-127);
    __m256i high_sum = _mm256_setzero_si256(), low_sum = _mm256_setzero_si256();
    for (int64_t i = 0; i < kKvTile; i += 32) {
        __m256i whole[4], rest[4];
        for (int j = 0; j < 4; j++) {
            const __m256 units = _mm256_mul_ps(scaled[i / 8 + j], inverse);
            whole[j] = _mm256_cvtps_epi32(units);
            if (four_bit) { // whole * nibble_offset: 8 * whole, less whole where the scale is negative
                const __m256i negative = _mm256_castps_si256(_mm256_cmp_ps(_mm256_loadu_ps(scales + i + 8 * j), _mm256_setzero_ps(), _CMP_LT_OQ));
                high_sum = _mm256_add_epi32(high_sum, _mm256_sub_epi32(_mm256_slli_epi32(whole[j], 3), _mm256_and_si256(whole[j], negative)));
                continue;
            }
            high_sum = _mm256_add_epi32(high_sum, whole[j]);
            rest[j] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_sub_ps(units, _mm256_cvtepi32_ps(whole[j])), _mm256_set1_ps(256.0f)));
            rest[j] = _mm256_max_epi32(_mm256_min_epi32(rest[j], most), least);
            low_sum = _mm256_add_epi32(low_sum, rest[j]);
        }
        if (four_bit) {
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.bytes + i), packed_int8<true>(whole));
        } else {
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.high + i), packed_int8(whole));
            _mm256_storeu_si256(reinterpret_cast<__m256i *>(out.low + i), packed_int8(rest));
        }
    }
    alignas(32) int32_t sums[16];
    _mm256_store_si256(reinterpret_cast<__m256i *>(sums), high_sum);
    _mm256_store_si256(reinterpret_cast<__m256i *>(sums + 8), low_sum);
    for (int j = 0; j < 8; j++) {
        out.parts.high_sum += sums[j];
        out.parts.low_sum += sums[8 + j];
    }
    return true;
}

// A value tile's int8 values at dimensions [d0, d0 + 8 * Lanes) times the weights' parts, into
// high and low: |value| times the weight with the value's sign (a pair's sum within int16).
template <int Lanes>
LOFI_AVX2 inline void add_byte_products(const char *tile, int64_t dh, int64_t d0, const TileWeights &w, int64_t m, __m256i *high,
                                        __m256i *low, TilesAhead &ahead) {
    for (int64_t p = 0; p < m; p += 4) {
        ahead.ask();
        const char *at = tile + value_byte(KvElement::int8, dh, d0, p);
        const __m256i h0 = broadcast4(w.high + p), l0 = broadcast4(w.low + p);
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
            const __m256i magnitude = _mm256_sign_epi8(v, v);
            high[j] = add_products(high[j], magnitude, _mm256_sign_epi8(h0, v));
            low[j] = add_products(low[j], magnitude, _mm256_sign_epi8(l0, v));
        }
    }
}

// The products for int4 values: the weights' unsigned bytes times the nibbles as they are (their
// offsets taken off after, TileWeights), into sums. maddubs' int16 pairs (at most 2 * 255 * 15)
// add up in int16 over 16 positions (30600) before madd widens them: half the multiplies.
template <int Lanes>
LOFI_AVX2 inline void add_nibble_products(const char *tile, int64_t dh, int64_t d0, const TileWeights &w, int64_t m, __m256i *sums,
                                          TilesAhead &ahead) {
    const __m256i nibble = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1);
    for (int64_t p0 = 0; p0 < m; p0 += 16) {
        __m256i sums16[Lanes];
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            sums16[j] = _mm256_setzero_si256();
        }
        for (int64_t p = p0; p < std::min(m, p0 + 16); p += 8) {
            ahead.ask();
            const char *at = tile + value_byte(KvElement::int4, dh, d0, p);
            const __m256i w0 = broadcast4(w.bytes + p), w1 = broadcast4(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
                const __m256i first = _mm256_and_si256(packed, nibble), second = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
                sums16[j] = _mm256_add_epi16(sums16[j], _mm256_add_epi16(_mm256_maddubs_epi16(w0, first), _mm256_maddubs_epi16(w1, second)));
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < Lanes; j++) {
            sums[j] = _mm256_add_epi32(sums[j], _mm256_madd_epi16(sums16[j], ones));
        }
    }
}

// out[d0, d0 + 8 * Lanes) += one value tile's dimensions there, weighted. Lanes is a constant so
// that the accumulators stay in registers (see weigh_dimensions_avx512_vnni).
template <int Lanes>
LOFI_AVX2 void weigh_dimensions_avx2(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile, int64_t m,
                                     float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    __m256i high[Lanes], low[Lanes];
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        high[j] = low[j] = _mm256_setzero_si256();
    }
    if (four_bit) {
        add_nibble_products<Lanes>(tile, dh, d0, w, m, high, ahead); // no low part: low stays 0
    } else {
        add_byte_products<Lanes>(tile, dh, d0, w, m, high, low, ahead);
    }
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        add_weighted_dot(out + d0 + 8 * j, high[j], low[j], w.parts, four_bit ? 1 : 0); // int4: high_sum holds the offsets
    }
}

// The steps of a value kernel's loops over one tile: runs of `run` dimensions, each over the m
// positions 4 (int8) or 8 (int4) at a time.
int64_t value_steps(KvElement element, int64_t dh, int64_t run, int64_t m) {
    const int64_t group = element == KvElement::int4 ? 8 : 4;
    return (dh + run - 1) / run * ((m + group - 1) / group);
}

// out += one value tile weighted on an AVX2 level: the weights in int8 parts, then each run of
// up to 32 dimensions by `weigh` (the level's weigh_dimensions, given the run's count of 8 lanes
// as a constant and its first dimension).
template <typename Weigh>
void weighted_tile_in_runs(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, TilesAhead &ahead,
                           Weigh &&weigh) {
    TileWeights w;
    if (!weigh_tile_avx2(weights, value_scales(element, tile, dh), m, element == KvElement::int4, w)) {
        ahead.ask_all();
        return;
    }
    ahead.pace(value_steps(element, dh, 32, m));
    for (int64_t d0 = 0; d0 < dh; d0 += 32) {
        with_count(std::min<int64_t>(32, dh - d0) / 8, [&](auto lanes) { weigh(lanes, d0, w); });
    }
}

// out += one value tile weighted, in integer dot products with the weights' int8 parts: 8
// dimensions of 4 positions (int8) or 8 (int4) per 32-byte load.
LOFI_AVX2 void weighted_tile_avx2(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                  TilesAhead &ahead) {
    weighted_tile_in_runs(element, dh, weights, tile, m, ahead, [&](auto lanes, int64_t d0, const TileWeights &w) {
        weigh_dimensions_avx2<decltype(lanes)::value>(element, dh, d0, w, tile, m, out, ahead);
    });
}

// ---- AVX-VNNI: the int8 keys' scores and the int8 and int4 values' sums as AVX-512 computes
// them (unsigned operands into dpbusd), 8 lanes to a register ----

// tile_scores_int8_avx512_vnni on 8 positions a register, 32 positions at a time (8 accumulators).
LOFI_AVX_VNNI void tile_scores_avx_vnni(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns,
                                        int64_t m, float *scores, TilesAhead &ahead) {
    if (element != KvElement::int8) {
        tile_scores_avx2(element, dh, query, tile, columns, m, scores, ahead); // float keys: no integer products
        return;
    }
    ahead.pace((m + 31) / 32 * dh / 4);
    const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
    const __m256i high_taken = _mm256_set1_epi32(128 * query.parts.high_sum), low_taken = _mm256_set1_epi32(128 * query.parts.low_sum);
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(32) float tile_scores[kKvTile];
    for (int64_t half = 0; half < m; half += 32) { // a last tile's empty half skipped
        __m256i high[4], low[4]; // in registers: the loops over them unrolled
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            high[j] = low[j] = _mm256_setzero_si256();
        }
        for (int64_t d = 0; d < dh; d += 4) {
            ahead.ask();
            const __m256i q_high = broadcast4(query.high + d), q_low = broadcast4(query.low + d);
#pragma GCC unroll 4
            for (int j = 0; j < 4; j++) {
                const char *keys = tile + key_index(KvElement::int8, kKvTile, d, half + 8 * j);
                const __m256i k = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(keys)), offset);
                high[j] = _mm256_dpbusd_avx_epi32(high[j], k, q_high);
                low[j] = _mm256_dpbusd_avx_epi32(low[j], k, q_low);
            }
        }
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m256 dot = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(low[j], low_taken)), _mm256_set1_ps(1.0f / 256.0f),
                                               _mm256_cvtepi32_ps(_mm256_sub_epi32(high[j], high_taken)));
            const __m256 scale = _mm256_mul_ps(_mm256_loadu_ps(scales + half + 8 * j), _mm256_set1_ps(query.parts.scale));
            _mm256_store_ps(tile_scores + half + 8 * j, _mm256_mul_ps(dot, scale));
        }
    }
    std::copy_n(tile_scores, m, scores);
}

// weigh_dimensions_avx512_vnni on 8 dimensions a register: out[d0, d0 + 8 * Lanes) += one value
// tile's dimensions there, weighted.
template <int Lanes>
LOFI_AVX_VNNI void weigh_dimensions_avx_vnni(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile,
                                             int64_t m, float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    const __m256i nibble = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8(static_cast<char>(0x80));
    __m256i high[Lanes], low[Lanes];
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        high[j] = low[j] = _mm256_setzero_si256();
    }
    for (int64_t p = 0; p < m; p += four_bit ? 8 : 4) {
        ahead.ask();
        const char *at = tile + value_byte(element, dh, d0, p);
        if (four_bit) { // the weights' unsigned bytes times the nibbles; no low part: low stays 0
            const __m256i w0 = broadcast4(w.bytes + p), w1 = broadcast4(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i packed = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j));
                const __m256i first = _mm256_and_si256(packed, nibble), second = _mm256_and_si256(_mm256_srli_epi16(packed, 4), nibble);
                high[j] = _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(high[j], w0, first), w1, second);
            }
        } else {
            const __m256i h0 = broadcast4(w.high + p), l0 = broadcast4(w.low + p);
#pragma GCC unroll 4
            for (int j = 0; j < Lanes; j++) {
                const __m256i v = _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(at + 32 * j)), flip);
                high[j] = _mm256_dpbusd_avx_epi32(high[j], v, h0);
                low[j] = _mm256_dpbusd_avx_epi32(low[j], v, l0);
            }
        }
    }
#pragma GCC unroll 4
    for (int j = 0; j < Lanes; j++) {
        add_weighted_dot(out + d0 + 8 * j, high[j], low[j], w.parts, four_bit ? 1 : 128); // int4: high_sum holds the offsets
    }
}

// weighted_tile_avx2 with VNNI: 8 dimensions of 4 positions per 32-byte load into dpbusd, int8
// values offset by 128 into unsigned bytes beside the weights' int8 parts, int4 nibbles as they
// are beside the weights' unsigned bytes (the offsets taken off after with the weights' sums).
LOFI_AVX_VNNI void weighted_tile_avx_vnni(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                          TilesAhead &ahead) {
    weighted_tile_in_runs(element, dh, weights, tile, m, ahead, [&](auto lanes, int64_t d0, const TileWeights &w) {
        weigh_dimensions_avx_vnni<decltype(lanes)::value>(element, dh, d0, w, tile, m, out, ahead);
    });
}

// ---- AVX-512: 16 lanes, and two accumulator sets so that 8 FMA chains keep both units busy ----
LOFI_AVX512_BEGIN

// 16 F32 or F16 elements as floats.
LOFI_AVX512 inline __m512 load16(KvElement element, const char *base, int64_t index) {
    if (element == KvElement::f16) {
        return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i *>(reinterpret_cast<const ggml_fp16_t *>(base) + index)));
    }
    return _mm512_loadu_ps(reinterpret_cast<const float *>(base) + index);
}

// tile_scores_int8_avx2 with VNNI: the keys offset by 128 into unsigned bytes (dpbusd's first
// operand), 128 times each query part's sum taken off after.
LOFI_AVX512 void tile_scores_int8_avx512_vnni(int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores,
                                              TilesAhead &ahead) {
    ahead.pace(dh / 4);
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(0x80));
    const __m512i high_taken = _mm512_set1_epi32(128 * query.parts.high_sum), low_taken = _mm512_set1_epi32(128 * query.parts.low_sum);
    __m512i high[4], low[4]; // in registers: the loops over them unrolled (see weigh_dimensions_avx512_vnni)
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        high[j] = low[j] = _mm512_setzero_si512();
    }
    for (int64_t d = 0; d < dh; d += 4) {
        ahead.ask();
        const __m512i q_high = broadcast4_512(query.high + d), q_low = broadcast4_512(query.low + d);
#pragma GCC unroll 4
        for (int j = 0; j < 4; j++) {
            const __m512i k = _mm512_xor_si512(_mm512_loadu_si512(tile + key_index(KvElement::int8, kKvTile, d, 16 * j)), offset);
            high[j] = _mm512_dpbusd_epi32(high[j], k, q_high);
            low[j] = _mm512_dpbusd_epi32(low[j], k, q_low);
        }
    }
    const float *scales = key_scales(KvElement::int8, tile, dh);
    alignas(64) float tile_scores[kKvTile];
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) {
        const __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low[j], low_taken)), _mm512_set1_ps(1.0f / 256.0f),
                                           _mm512_cvtepi32_ps(_mm512_sub_epi32(high[j], high_taken)));
        const __m512 scale = _mm512_mul_ps(_mm512_loadu_ps(scales + 16 * j), _mm512_set1_ps(query.parts.scale));
        _mm512_store_ps(tile_scores + 16 * j, _mm512_mul_ps(dot, scale));
    }
    std::copy_n(tile_scores, m, scores);
}

// float_tile_scores_avx2 on registers of 16 scores, one a quarter, even and odd dimensions apart.
template <int Quarters>
LOFI_AVX512 void float_tile_scores_avx512(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t m,
                                          float *scores, TilesAhead &ahead) {
    ahead.pace(dh);
    __m512 acc[2][Quarters];
    for (auto &set : acc) {
        for (__m512 &a : set) {
            a = _mm512_setzero_ps();
        }
    }
    for (int64_t d = 0; d < dh; d++) {
        ahead.ask();
        const __m512 qd = _mm512_set1_ps(query.q[d]);
        for (int j = 0; j < Quarters; j++) {
            acc[d % 2][j] = _mm512_fmadd_ps(qd, load16(element, tile, d * 16 * Quarters + 16 * j), acc[d % 2][j]);
        }
    }
    alignas(64) float tile_scores[kKvTile];
    for (int j = 0; j < Quarters; j++) {
        _mm512_store_ps(tile_scores + 16 * j, _mm512_add_ps(acc[0][j], acc[1][j]));
    }
    std::copy_n(tile_scores, m, scores);
}

LOFI_AVX512 void tile_scores_avx512(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m,
                                    float *scores, TilesAhead &ahead) {
    static_assert(kKvTile == 64, "up to 4 registers of 16 scores");
    if (element == KvElement::int8) {
        tile_scores_int8_avx512_vnni(dh, query, tile, m, scores, ahead);
        return;
    }
    with_count(columns / 16,
               [&](auto quarters) { float_tile_scores_avx512<decltype(quarters)::value>(element, dh, query, tile, m, scores, ahead); });
}

// weighted_rows_avx2 16 dimensions to a register, positions in pairs.
LOFI_AVX512 void weighted_rows_avx512(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                                      TilesAhead &ahead) {
    const size_t row_bytes = elements_bytes(element, dh);
    ahead.pace((dh + 63) / 64 * n);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 16);
        __m512 acc[2][4];
        for (int j = 0; j < lanes; j++) {
            acc[0][j] = _mm512_loadu_ps(out + d0 + 16 * j);
            acc[1][j] = _mm512_setzero_ps();
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            ahead.ask();
            const __m512 w = _mm512_set1_ps(weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[i % 2][j] = _mm512_fmadd_ps(w, load16(element, row, d0 + 16 * j), acc[i % 2][j]);
            }
        }
        for (int j = 0; j < lanes; j++) {
            _mm512_storeu_ps(out + d0 + 16 * j, _mm512_add_ps(acc[0][j], acc[1][j]));
        }
    }
}

// weigh_tile_avx2 on 16-lane registers (masked loads: nothing past the m positions filled is
// read).
LOFI_AVX512 bool weigh_tile_avx512(const float *weights, const float *scales, int64_t m, bool four_bit, TileWeights &out) {
    __m512 scaled[4];
    __m512i offsets[4]; // int4's nibble offsets: 8, or 7 where a scale's sign bit is set
    __m512 top = _mm512_setzero_ps();
    for (int j = 0; j < 4; j++) {
        const auto filled = static_cast<__mmask16>((1u << std::clamp<int64_t>(m - 16 * j, 0, 16)) - 1);
        const __m512 scale = _mm512_maskz_loadu_ps(filled, scales + 16 * j);
        scaled[j] = _mm512_mul_ps(_mm512_maskz_loadu_ps(filled, weights + 16 * j), _mm512_abs_ps(scale));
        offsets[j] = _mm512_sub_epi32(_mm512_set1_epi32(8), _mm512_srli_epi32(_mm512_castps_si512(scale), 31));
        top = _mm512_max_ps(top, scaled[j]);
    }
    const float largest = _mm512_reduce_max_ps(top);
    if (largest == 0.0f) {
        return false;
    }
    out.parts = {largest / weights_top(four_bit), 0, 0};
    const __m512 inverse = _mm512_set1_ps(1.0f / out.parts.scale);
    __m512i high_sum = _mm512_setzero_si512(), low_sum = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        const __m512 units = _mm512_mul_ps(scaled[j], inverse);
        const __m512i whole = _mm512_cvtps_epi32(units);
        high_sum = _mm512_add_epi32(high_sum, four_bit ? _mm512_mullo_epi32(whole, offsets[j]) : whole);
        if (four_bit) {
            _mm_storeu_si128(reinterpret_cast<__m128i *>(out.bytes + 16 * j), _mm512_cvtepi32_epi8(whole)); // within [0, 255]
            continue;
        }
        __m512i rest = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_sub_ps(units, _mm512_cvtepi32_ps(whole)), _mm512_set1_ps(256.0f)));
        rest = _mm512_max_epi32(_mm512_min_epi32(rest, _mm512_set1_epi32(127)), _mm512_set1_epi32(-127));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out.high + 16 * j), _mm512_cvtepi32_epi8(whole));
        _mm_storeu_si128(reinterpret_cast<__m128i *>(out.low + 16 * j), _mm512_cvtepi32_epi8(rest));
        low_sum = _mm512_add_epi32(low_sum, rest);
    }
    out.parts.high_sum = _mm512_reduce_add_epi32(high_sum);
    out.parts.low_sum = _mm512_reduce_add_epi32(low_sum);
    return true;
}

// out[d0, d0 + 16 * Groups) += one value tile's dimensions there, weighted (weighted_tile_avx512_vnni).
// Groups is a constant so that the accumulators stay in registers: with a run-time count GCC kept
// them on the stack, a load and a store around every dpbusd (the attention's arithmetic ran ~2x
// slower, and it is as long as its memory reads).
template <int Groups>
LOFI_AVX512 void weigh_dimensions_avx512_vnni(KvElement element, int64_t dh, int64_t d0, const TileWeights &w, const char *tile,
                                               int64_t m, float *out, TilesAhead &ahead) {
    const bool four_bit = element == KvElement::int4;
    const __m512i nibble = _mm512_set1_epi8(0x0F), flip = _mm512_set1_epi8(static_cast<char>(0x80));
    const int32_t offset = four_bit ? 1 : 128; // int4: high_sum holds the nibbles' offsets
    __m512i high[Groups], low[Groups];
#pragma GCC unroll 4
    for (int g = 0; g < Groups; g++) {
        high[g] = low[g] = _mm512_setzero_si512();
    }
    for (int64_t p = 0; p < m; p += four_bit ? 8 : 4) {
        ahead.ask();
        const char *at = tile + value_byte(element, dh, d0, p);
        if (four_bit) { // the weights' unsigned bytes times the nibbles; no low part: low stays 0
            const __m512i w0 = broadcast4_512(w.bytes + p), w1 = broadcast4_512(w.bytes + p + 4);
#pragma GCC unroll 4
            for (int g = 0; g < Groups; g++) {
                const __m512i packed = _mm512_loadu_si512(at + 64 * g);
                const __m512i first = _mm512_and_si512(packed, nibble), second = _mm512_and_si512(_mm512_srli_epi16(packed, 4), nibble);
                high[g] = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(high[g], w0, first), w1, second);
            }
        } else {
            const __m512i h0 = broadcast4_512(w.high + p), l0 = broadcast4_512(w.low + p);
#pragma GCC unroll 4
            for (int g = 0; g < Groups; g++) {
                const __m512i v = _mm512_xor_si512(_mm512_loadu_si512(at + 64 * g), flip);
                high[g] = _mm512_dpbusd_epi32(high[g], v, h0);
                low[g] = _mm512_dpbusd_epi32(low[g], v, l0);
            }
        }
    }
    const __m512i high_taken = _mm512_set1_epi32(offset * w.parts.high_sum), low_taken = _mm512_set1_epi32(offset * w.parts.low_sum);
#pragma GCC unroll 4
    for (int g = 0; g < Groups; g++) {
        const __m512 dot = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(low[g], low_taken)), _mm512_set1_ps(1.0f / 256.0f),
                                           _mm512_cvtepi32_ps(_mm512_sub_epi32(high[g], high_taken)));
        float *to = out + d0 + 16 * g;
        _mm512_storeu_ps(to, _mm512_fmadd_ps(dot, _mm512_set1_ps(w.parts.scale), _mm512_loadu_ps(to)));
    }
}

// weighted_tile_avx2 with VNNI: 16 dimensions of 4 positions per 64-byte load into dpbusd, int8
// values offset by 128 into unsigned bytes beside the weights' int8 parts, int4 nibbles as they
// are beside the weights' unsigned bytes (the offsets taken off after with the weights' sums).
LOFI_AVX512 void weighted_tile_avx512_vnni(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out,
                                           TilesAhead &ahead) {
    TileWeights w;
    if (!weigh_tile_avx512(weights, value_scales(element, tile, dh), m, element == KvElement::int4, w)) {
        ahead.ask_all();
        return;
    }
    ahead.pace(value_steps(element, dh, 64, m));
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        with_count(std::min<int64_t>(64, dh - d0) / 16,
                   [&](auto groups) { weigh_dimensions_avx512_vnni<decltype(groups)::value>(element, dh, d0, w, tile, m, out, ahead); });
    }
}
LOFI_AVX512_END
#endif

#ifdef LOFI_ARM
// exponentials_portable 4 lanes at a time (std::exp was 40 % of the attention's instructions).
LOFI_DOTPROD float exponentials_neon(float *x, int64_t n, float scale) {
    float32x4_t lanes = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        lanes = vmaxq_f32(lanes, vmulq_n_f32(vld1q_f32(x + i), scale));
    }
    float top = vmaxvq_f32(lanes);
    for (int64_t j = i; j < n; j++) {
        top = std::max(top, scale * x[j]);
    }
    float32x4_t sums = vdupq_n_f32(0.0f);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t e = exp_neon(vsubq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vdupq_n_f32(top)));
        vst1q_f32(x + i, e);
        sums = vaddq_f32(sums, e);
    }
    double sum = vaddvq_f32(sums);
    for (int64_t j = i; j < n; j++) {
        x[j] = std::exp(scale * x[j] - top);
        sum += x[j];
    }
    return static_cast<float>(1.0 / sum);
}

// ---- neon-dotprod: int8 keys and int8 / int4 values in integer dot products (sdot), the
// query's and the weights' two int8 parts as split_int8 makes them; F32 and F16 keys and values
// in float multiply-adds ----

// tile_scores for int8 keys: each 16 bytes of a tile's run of a group of four dimensions hold
// four positions' four dimensions, one sdot each with the group's four query bytes broadcast; 32
// positions at a time, the high and the low part in 8 accumulators each.
LOFI_DOTPROD void tile_scores_int8_neon(int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores) {
    const float to_float = query.parts.scale / 256.0f;
    const float *scales = key_scales(KvElement::int8, tile, dh);
    for (int64_t half = 0; half < m; half += 32) { // a last tile's empty half skipped
        int32x4_t high[8] = {}, low[8] = {};
        for (int64_t d = 0; d < dh; d += 4) {
            const int8x16_t q_high = vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t *>(query.high + d)));
            const int8x16_t q_low = vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t *>(query.low + d)));
            const auto *keys = reinterpret_cast<const int8_t *>(tile + key_index(KvElement::int8, kKvTile, d, half));
            for (int i = 0; i < 8; i++) {
                const int8x16_t k = vld1q_s8(keys + 16 * i);
                high[i] = vdotq_s32(high[i], k, q_high);
                low[i] = vdotq_s32(low[i], k, q_low);
            }
        }
        float tile_scores[32];
        for (int i = 0; i < 8; i++) {
            const int32x4_t dots = vaddq_s32(vshlq_n_s32(high[i], 8), low[i]); // within int32: |high| <= 64 * 127 * 127
            vst1q_f32(tile_scores + 4 * i, vmulq_f32(vcvtq_f32_s32(dots), vmulq_n_f32(vld1q_f32(scales + half + 4 * i), to_float)));
        }
        std::copy_n(tile_scores, std::min<int64_t>(32, m - half), scores + half);
    }
}

// 4 F32 or F16 elements as floats (F16's converted by NEON's fcvtl: GGML's conversion, a call
// per element, was 7 % of a generation's instructions with the cross-attention's F16 caches).
LOFI_DOTPROD inline float32x4_t load4(KvElement element, const char *base, int64_t index) {
    if (element == KvElement::f16) {
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t *>(base) + index)));
    }
    return vld1q_f32(reinterpret_cast<const float *>(base) + index);
}

// A float key tile's scores, 16 columns (four registers) times Quarters, accumulated along the
// head dimension.
template <int Quarters>
LOFI_DOTPROD void float_tile_scores_neon(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t m, float *scores) {
    constexpr int kRegisters = 4 * Quarters;
    float32x4_t acc[kRegisters] = {};
    for (int64_t d = 0; d < dh; d++) {
        const float32x4_t qd = vdupq_n_f32(query.q[d]);
        for (int j = 0; j < kRegisters; j++) {
            acc[j] = vfmaq_f32(acc[j], qd, load4(element, tile, d * 4 * kRegisters + 4 * j));
        }
    }
    float tile_scores[kKvTile];
    for (int j = 0; j < kRegisters; j++) {
        vst1q_f32(tile_scores + 4 * j, acc[j]);
    }
    std::copy_n(tile_scores, m, scores);
}

void tile_scores_neon(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m, float *scores,
                      TilesAhead &) {
    if (element == KvElement::int8) {
        tile_scores_int8_neon(dh, query, tile, m, scores);
        return;
    }
    with_count(columns / 16, [&](auto quarters) { float_tile_scores_neon<decltype(quarters)::value>(element, dh, query, tile, m, scores); });
}

// out += the weighted F32 or F16 rows: up to 64 output dimensions at a time accumulate in
// registers along the positions.
LOFI_DOTPROD void weighted_rows_neon(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out,
                                     TilesAhead &) {
    const size_t row_bytes = elements_bytes(element, dh);
    for (int64_t d0 = 0; d0 < dh; d0 += 64) {
        const int lanes = static_cast<int>(std::min<int64_t>(64, dh - d0) / 4);
        float32x4_t acc[16];
        for (int j = 0; j < lanes; j++) {
            acc[j] = vld1q_f32(out + d0 + 4 * j);
        }
        for (int64_t i = 0; i < n; i++) {
            const char *row = rows + i * row_bytes;
            const float32x4_t w = vdupq_n_f32(weights[i]);
            for (int j = 0; j < lanes; j++) {
                acc[j] = vfmaq_f32(acc[j], w, load4(element, row, d0 + 4 * j));
            }
        }
        for (int j = 0; j < lanes; j++) {
            vst1q_f32(out + d0 + 4 * j, acc[j]);
        }
    }
}

// The tile's weighted values of dimensions [d0, d0 + 32) as each weight part's sums: for each
// group of positions (four of an int8 tile, eight of an int4 tile: four in the low nibbles, four
// in the high), 16 bytes hold four dimensions of four positions, one sdot each with the four
// positions' weights broadcast.
template <bool FourBit>
LOFI_DOTPROD void weigh_dimensions_neon(int64_t dh, int64_t d0, const int8_t *high, const int8_t *low, const char *tile, int32x4_t *high_sums,
                                         int32x4_t *low_sums) {
    const uint8x16_t nibble = vdupq_n_u8(0x0F);
    constexpr int64_t kGroup = FourBit ? 8 : 4;
    const auto quad = [](const int8_t *four) LOFI_DOTPROD { return vreinterpretq_s8_s32(vld1q_dup_s32(reinterpret_cast<const int32_t *>(four))); };
    for (int64_t first = 0; first < kKvTile; first += kGroup) {
        const auto *bytes = reinterpret_cast<const uint8_t *>(tile + value_byte(FourBit ? KvElement::int4 : KvElement::int8, dh, d0, first));
        const int8x16_t w_high = quad(high + first), w_low = quad(low + first);
        for (int i = 0; i < 8; i++) {
            const uint8x16_t v = vld1q_u8(bytes + 16 * i);
            const int8x16_t values = vreinterpretq_s8_u8(FourBit ? vandq_u8(v, nibble) : v);
            high_sums[i] = vdotq_s32(high_sums[i], values, w_high);
            low_sums[i] = vdotq_s32(low_sums[i], values, w_low);
        }
        if constexpr (FourBit) { // positions first + 4 .. first + 7 in the high nibbles
            const int8x16_t later_high = quad(high + first + 4), later_low = quad(low + first + 4);
            for (int i = 0; i < 8; i++) {
                const int8x16_t later = vreinterpretq_s8_u8(vshrq_n_u8(vld1q_u8(bytes + 16 * i), 4));
                high_sums[i] = vdotq_s32(high_sums[i], later, later_high);
                low_sums[i] = vdotq_s32(low_sums[i], later, later_low);
            }
        }
    }
}

// A value tile's weights times their positions' |scale| (zero past the m filled) in two int8
// parts, split_int8's to the bit (x86's int4 kernels take one unsigned byte; sdot's are signed,
// and a signed byte alone would double a weight's rounding), four at a time: split_int8 and the
// offsets' sums scalar were an eighth of the attention's instructions. For int4 tiles, each part's
// sum of weight times its nibble offset, taken off the sums once a tile.
struct NeonTileWeights {
    int8_t high[kKvTile], low[kKvTile];
    float scale;
    int32_t high_offset = 0, low_offset = 0;
};

template <bool FourBit>
LOFI_DOTPROD NeonTileWeights weigh_tile_neon(const float *weights, const float *scales, int64_t m) {
    constexpr int kQuads = kKvTile / 4;
    // The weights and scales of the positions filled, 0 past them: neither is read there (a
    // scale not yet written may be anything, a NaN that would spread through the tile's maximum).
    float filled_weights[kKvTile] = {}, filled_scales[kKvTile] = {};
    std::copy_n(weights, m, filled_weights);
    std::copy_n(scales, m, filled_scales);
    float32x4_t scaled[kQuads], top = vdupq_n_f32(0.0f);
    for (int j = 0; j < kQuads; j++) {
        scaled[j] = vmulq_f32(vld1q_f32(filled_weights + 4 * j), vabsq_f32(vld1q_f32(filled_scales + 4 * j)));
        top = vmaxq_f32(top, scaled[j]);
    }
    NeonTileWeights out;
    out.scale = vmaxvq_f32(top) / 127.0f;
    const float inverse = out.scale == 0.0f ? 0.0f : 1.0f / out.scale;
    const int32x4_t most = vdupq_n_s32(127), least = vdupq_n_s32(-127);
    int32x4_t high_offsets = vdupq_n_s32(0), low_offsets = vdupq_n_s32(0);
    for (int j = 0; j < kQuads; j += 4) {
        int32x4_t whole[4], rest[4];
        for (int k = 0; k < 4; k++) {
            const float32x4_t units = vmulq_n_f32(scaled[j + k], inverse);
            whole[k] = vcvtnq_s32_f32(units); // ties to even, as nearest_int
            rest[k] = vminq_s32(vmaxq_s32(vcvtnq_s32_f32(vmulq_n_f32(vsubq_f32(units, vcvtq_f32_s32(whole[k])), 256.0f)), least), most);
            // nibble_offset: 7 where the scale is negative, else 8. The scales are loaded again (from
            // L1) rather than their offsets kept from the first loop: sixteen more live registers
            // spill (4034 instructions a tile under benches/arm_instructions.sh against 4008).
            if constexpr (FourBit) {
                const int32x4_t offset = vbslq_s32(vcltzq_f32(vld1q_f32(filled_scales + 4 * (j + k))), vdupq_n_s32(7), vdupq_n_s32(8));
                high_offsets = vmlaq_s32(high_offsets, whole[k], offset);
                low_offsets = vmlaq_s32(low_offsets, rest[k], offset);
            }
        }
        const auto bytes = [](const int32x4_t *x) LOFI_DOTPROD {
            return vcombine_s8(vmovn_s16(vcombine_s16(vmovn_s32(x[0]), vmovn_s32(x[1]))),
                               vmovn_s16(vcombine_s16(vmovn_s32(x[2]), vmovn_s32(x[3]))));
        };
        vst1q_s8(out.high + 4 * j, bytes(whole));
        vst1q_s8(out.low + 4 * j, bytes(rest));
    }
    out.high_offset = vaddvq_s32(high_offsets);
    out.low_offset = vaddvq_s32(low_offsets);
    return out;
}

// weighted_tile for int8 and int4 tiles (a head size of whole runs of 32).
template <bool FourBit>
LOFI_DOTPROD void weighted_tile_neon_of(int64_t dh, const float *weights, const char *tile, int64_t m, float *out) {
    const NeonTileWeights w = weigh_tile_neon<FourBit>(weights, value_scales(FourBit ? KvElement::int4 : KvElement::int8, tile, dh), m);
    const int32x4_t high_offsets = vdupq_n_s32(w.high_offset), low_offsets = vdupq_n_s32(w.low_offset);
    for (int64_t d0 = 0; d0 < dh; d0 += 32) {
        int32x4_t high_sums[8] = {}, low_sums[8] = {};
        weigh_dimensions_neon<FourBit>(dh, d0, w.high, w.low, tile, high_sums, low_sums);
        for (int i = 0; i < 8; i++) {
            const int32x4_t centred = vaddq_s32(vshlq_n_s32(vsubq_s32(high_sums[i], high_offsets), 8), vsubq_s32(low_sums[i], low_offsets));
            vst1q_f32(out + d0 + 4 * i, vfmaq_n_f32(vld1q_f32(out + d0 + 4 * i), vcvtq_f32_s32(centred), w.scale / 256.0f));
        }
    }
}

void weighted_tile_neon(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out, TilesAhead &) {
    if (element == KvElement::int4) {
        weighted_tile_neon_of<true>(dh, weights, tile, m, out);
    } else {
        weighted_tile_neon_of<false>(dh, weights, tile, m, out);
    }
}
#endif

// The kernels of one level: a key tile's scores, and a value tile weighted into out (F32 and F16
// rows, or int8 and int4 tiles; out += weights . values).
struct Kernels {
    void (*scores)(KvElement, int64_t, const KeyQuery &, const char *, int64_t, int64_t, float *, TilesAhead &);
    void (*weighted_rows)(KvElement, int64_t, const float *, const char *, int64_t, float *, TilesAhead &);
    void (*weighted_tile)(KvElement, int64_t, const float *, const char *, int64_t, float *, TilesAhead &);
};

const Kernels &kernels() {
    static const Kernels chosen = [] {
#ifdef LOFI_X86
        switch (cpu_kernels()) {
        case CpuKernels::avx512_vnni:
            return Kernels{tile_scores_avx512, weighted_rows_avx512, weighted_tile_avx512_vnni};
        case CpuKernels::avx_vnni:
            return Kernels{tile_scores_avx_vnni, weighted_rows_avx2, weighted_tile_avx_vnni};
        case CpuKernels::avx2:
            return Kernels{tile_scores_avx2, weighted_rows_avx2, weighted_tile_avx2};
        case CpuKernels::portable:
        case CpuKernels::neon_dotprod:
            break;
        }
#endif
#ifdef LOFI_ARM
        if (cpu_kernels() == CpuKernels::neon_dotprod) {
            return Kernels{tile_scores_neon, weighted_rows_neon, weighted_tile_neon};
        }
#endif
        return Kernels{tile_scores_portable, weighted_rows_portable, weighted_tile_portable};
    }();
    return chosen;
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
        return vector ? kernels().weighted_tile : weighted_tile_portable;
    }
    return vector ? kernels().weighted_rows : weighted_rows_portable;
}

// x[i] = exp(scale * x[i] - m) / sum over i < n, m the largest scale * x[i] (GGML's soft_max_ext
// without a mask), in place.
float exponentials(float *x, int64_t n, float scale) {
    static const auto row = LOFI_ROW_KERNEL(exponentials_avx2, exponentials_neon, exponentials_portable);
    return row(x, n, scale);
}

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

size_t KvLayout::key_tile_bytes() const { return lofi::key_tile_bytes(type.key, head_size, key_columns()); }

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
    return lofi::value_tile_bytes(value_tile_element(type.value, t), head_size);
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
    return pairs * (lofi::key_tile_bytes(type.key, head_size, kKvTile) + lofi::value_tile_bytes(type.value, head_size)) / kKvTile;
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
    const auto scores_of = vectorizable(key, dh) ? kernels().scores : tile_scores_portable;
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
