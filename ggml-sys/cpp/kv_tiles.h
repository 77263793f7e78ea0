// The tile formats of the attention's caches (kv_kernels.h's layout), as every level's kernels
// read them (kv_kernels_portable.cpp, kv_kernels_avx2.cpp, kv_kernels_avx512.cpp,
// kv_kernels_neon.cpp), and each level's set of kernels, which kv_kernels.cpp chooses from at run
// time (cpu_features.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cpu_neon.h"
#include "cpu_simd.h"
#include "ggml.h" // F16 elements: ggml_fp16_t
#include "kv_elements.h"
#include "tiles_ahead.h"

namespace lofi::kv {

// Bytes of `n` elements (int4: two to a byte).
inline size_t elements_bytes(KvElement element, int64_t n) {
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

inline bool has_scale(KvElement element) { return element == KvElement::int8 || element == KvElement::int4; }

// The scale of a vector: int8 maps its largest magnitude to 127; int4 maps the element of
// largest magnitude (the first such) to 8 units exactly, whichever its sign (as GGML's Q4_0 maps
// it to -8): the scale's sign says which (nibble_offset).
float vector_scale(KvElement element, const float *x, int64_t n);

// A nibble n of a 4-bit value holds (n - offset) * |scale|: offset 8 where the scale is positive
// (values in [-8, 7] units, the extreme at -8), 7 where it is negative (in [-7, 8], the extreme
// at 8). So a value's sign never rides on its scale, and the value kernels' weights times |scale|
// are never negative: one unsigned byte each (TileWeights).
inline int32_t nibble_offset(float scale) { return scale < 0.0f ? 7 : 8; }

// Where element (d, column) of a key tile of `columns` columns lives: [head size][columns] for
// floats; for int8, [head size / 4][kKvTile][4], so each position's dimensions come four to a
// 32-bit lane for the integer dot products of the vector kernels.
inline int64_t key_index(KvElement element, int64_t columns, int64_t d, int64_t column) {
    return element == KvElement::int8 ? (d / 4 * kKvTile + column) * 4 + d % 4 : d * columns + column;
}

// Elements of a key tile: int8 rounds the head size up to whole groups of 4.
inline int64_t key_tile_elements(KvElement element, int64_t dh, int64_t columns) {
    return (element == KvElement::int8 ? (dh + 3) / 4 * 4 : dh) * columns;
}

// x ~ scale * (high + low / 256) in two int8 parts: high with its largest magnitude at 127,
// low the rest; `sums` are each part's sum (the unsigned operands' offsets are taken off with
// them).
struct Int8Parts {
    float scale;
    int32_t high_sum, low_sum;
};

Int8Parts split_int8(const float *x, int64_t n, int8_t *high, int8_t *low);

// A pair's query as the key kernels take it: for int8 keys also in two int8 parts (one part
// alone moved a greedy token of the fixture: its error adds to the keys'), and for AVX2's madd
// those as one int16, high * 256 + low (within int16: |high * 256 + low| <= 127 * 257).
struct KeyQuery {
    const float *q;
    const int8_t *high, *low;
    const int16_t *high_low;
    Int8Parts parts;
};

// A key or value tile's scales follow its `elements` elements (none for F32 and F16).
inline const float *scales_of(KvElement element, const char *base, int64_t elements) {
    return has_scale(element) ? reinterpret_cast<const float *>(base + elements_bytes(element, elements)) : nullptr;
}

inline size_t key_tile_bytes(KvElement element, int64_t dh, int64_t columns) {
    return elements_bytes(element, key_tile_elements(element, dh, columns)) + (has_scale(element) ? columns * sizeof(float) : 0);
}

// A key tile's scales (one per position), nullptr for F32 and F16 (only int8 keys have them,
// in tiles of kKvTile columns).
inline const float *key_scales(KvElement element, const char *tile, int64_t dh) {
    return scales_of(element, tile, key_tile_elements(element, dh, kKvTile));
}

// Value tiles: kKvTile F32 or F16 rows of one head; for int8 and int4 values kKvTile positions,
// then their f32 scales, a dimension's positions side by side, four to a 32-bit lane, so one
// 64-byte load holds 16 dimensions of 4 positions for integer dot products along the positions
// (the weighted sum): int8 as [kKvTile / 4][head size][4]; int4 as [kKvTile / 8][head size][4]
// bytes whose low nibbles are positions 8p..8p+3 and high nibbles 8p+4..8p+7, offset into
// [0, 15].
inline size_t value_tile_bytes(KvElement element, int64_t dh) {
    return elements_bytes(element, kKvTile * dh) + (has_scale(element) ? kKvTile * sizeof(float) : 0);
}

inline int64_t value_byte(KvElement element, int64_t dh, int64_t d, int64_t column) {
    const int64_t group = element == KvElement::int4 ? 8 : 4;
    return (column / group * dh + d) * 4 + column % 4;
}

inline int value_shift(int64_t column) { return column % 8 < 4 ? 0 : 4; } // int4

inline const float *value_scales(KvElement element, const char *tile, int64_t dh) { return scales_of(element, tile, kKvTile * dh); }

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
inline float weights_top(bool four_bit) { return four_bit ? 255.0f : 127.0f; }
#endif

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

// The steps of a value kernel's loops over one tile: runs of `run` dimensions, each over the m
// positions 4 (int8) or 8 (int4) at a time.
inline int64_t value_steps(KvElement element, int64_t dh, int64_t run, int64_t m) {
    const int64_t group = element == KvElement::int4 ? 8 : 4;
    return (dh + run - 1) / run * ((m + group - 1) / group);
}

// A level's kernels: a key tile's scores; a value tile weighted into out (F32 and F16 rows, or
// int8 and int4 tiles; out += weights . values); and a softmax's numerators in place, returning
// the inverse of their sum (kv_kernels_portable.cpp's exponentials_portable).
struct Kernels {
    void (*scores)(KvElement element, int64_t dh, const KeyQuery &query, const char *tile, int64_t columns, int64_t m, float *scores,
                   TilesAhead &ahead);
    void (*weighted_rows)(KvElement element, int64_t dh, const float *weights, const char *rows, int64_t n, float *out, TilesAhead &ahead);
    void (*weighted_tile)(KvElement element, int64_t dh, const float *weights, const char *tile, int64_t m, float *out, TilesAhead &ahead);
    float (*exponentials)(float *x, int64_t n, float scale);
};

Kernels portable_kernels();
#ifdef LOFI_X86
Kernels avx2_kernels();
Kernels avx_vnni_kernels();    // AVX2's, with VNNI's integer products for int8 keys and int8/int4 values
Kernels avx512_vnni_kernels(); // the softmax AVX2's
#endif
#ifdef LOFI_ARM
Kernels neon_dotprod_kernels();
#endif

} // namespace lofi::kv
