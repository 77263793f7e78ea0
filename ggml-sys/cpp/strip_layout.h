// The decoder's 4-bit weights laid out for products with one or two rows (a decode step: the
// conditioned and the unconditioned branch), read by strip_product.h.
//
// GGML's repacked Q4_K product unpacks every weight once per row of the input, so the two
// branches of a guided step cost twice the unpacking of one, and on two threads that unpacking,
// not memory, bounds a step. A strip holds 16 output rows of a Q4_K weight, its superblocks of
// 256 inputs one after the other; in a superblock the 4-bit values of the 16 rows are
// interleaved four inputs at a time, so one 64-byte load unpacks into the products of 8 inputs
// with all 16 rows, and each unpacked register meets the inputs of both branches (an int8 dot
// product per 32-bit lane: AVX512-VNNI, AVX-VNNI, or AVX2's maddubs). The values and scales are
// Q4_K's own, moved: the product is GGML's, to the order of the sums.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ggml.h"

namespace lofi {

// Output rows per strip.
constexpr int64_t kStripRows = 16;

// One strip's superblock: 16 rows x 256 inputs. Input k of sub-block j (32 inputs) of row r is
// in qs[j][g][4 * r + i] with k = 8 * g + i (low nibble) or 8 * g + 4 + i (high nibble).
struct StripTile {
    uint8_t qs[8][4][4 * kStripRows];
    uint8_t scales[8][kStripRows]; // Q4_K's 6-bit sub-block scales
    uint8_t mins[8][kStripRows];   // and mins
    ggml_fp16_t d[kStripRows], dmin[kStripRows];
};

// Whether a weight of `type` with `rows` rows of `inputs` can be laid out in strips: Q4_K, rows a
// multiple of kStripRows.
bool strip_layout_fits(ggml_type type, int64_t inputs, int64_t rows);

// Lays out a fitting weight's rows (Q4_K blocks at `q4k`) in strips at `strips`
// (rows / kStripRows * inputs / 256 tiles).
void lay_out_strips(int64_t inputs, int64_t rows, const void *q4k, void *strips);

} // namespace lofi
