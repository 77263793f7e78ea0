// The attention's portable kernels (kv_tiles.h): plain C++ a compiler vectorises as the build's
// baseline allows, for any head size; the vector levels fall back to them for head sizes their
// registers do not divide.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kv_tiles.h"

namespace lofi::kv {

namespace {

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

} // namespace

Kernels portable_kernels() { return {tile_scores_portable, weighted_rows_portable, weighted_tile_portable, exponentials_portable}; }

} // namespace lofi::kv
