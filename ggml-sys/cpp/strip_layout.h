// The decoder's K-quant and Q8_0 weights laid out for products with one or two rows (a decode step: the
// conditioned and the unconditioned branch), read by strip_product.h.
//
// GGML's K-quant products unpack every weight once per row of the input, so the two
// branches of a guided step cost twice the unpacking of one, and on two threads that unpacking,
// not memory, bounds a step. A strip holds 16 output rows of a weight, its superblocks of 256
// inputs one after the other; in a superblock the low 4 bits of the 16 rows' values are
// interleaved four inputs at a time, so one 64-byte load unpacks into the products of 8 inputs
// with all 16 rows (an int8 dot product per 32-bit lane: AVX512-VNNI, or AVX2's maddubs), and
// each unpacked register meets the inputs of both branches. The values and scales are the
// K-quant's own, moved: the product is GGML's, to the order of the sums.
#pragma once

#include <cstddef>
#include <cstdint>

#include "ggml.h"

namespace lofi {

// Output rows per strip, inputs per superblock.
constexpr int64_t kStripRows = 16, kStripSuperblock = 256;

enum class StripFormat { q4_k, q5_k, q6_k, q8_0 };

// Q4_K: 16 rows x 256 inputs. Input k of sub-block j (32 inputs) of row r is in
// qs[j][g][4 * r + i] with k = 8 * g + i (low nibble) or 8 * g + 4 + i (high nibble); its value
// is d * scales[j] * q - dmin * min_j, min_j at min_pairs[j / 2][2 * r + j % 2]: a row's mins of
// two sub-blocks side by side, one int16 pair for an int16 dot product with their inputs' sums.
struct StripTileQ4 {
    uint8_t qs[8][4][4 * kStripRows];
    uint8_t scales[8][kStripRows];        // 6 bits
    uint8_t min_pairs[4][2 * kStripRows]; // 6 bits
    ggml_fp16_t d[kStripRows], dmin[kStripRows];
};

// Q5_K: Q4_K's tile and each value's fifth bit (16 added to its low four). The fifth bits of
// sub-block j are in fifth_bits[j], one byte beside each byte of qs[j][g]: bit 2g of byte
// 4 * r + i is input 8g + i's (the low nibble of qs[j][g][4 * r + i]), bit 2g + 1 input 8g + 4 + i's
// (its high nibble). So one 64-byte load holds a sub-block's fifth bits, and a shift and a
// select put a group's beside its low four: 2880 bytes a tile, GGML's 2816 and the unpacked scales.
struct StripTileQ5 {
    uint8_t qs[8][4][4 * kStripRows];
    uint8_t fifth_bits[8][4 * kStripRows];
    uint8_t scales[8][kStripRows];
    uint8_t min_pairs[4][2 * kStripRows];
    ggml_fp16_t d[kStripRows], dmin[kStripRows];
};

// Q6_K: 16 rows x 256 inputs in 16 groups of 16 (one scale each). Input 4m + i of group s
// (m, i < 4) of row r: for m < 3 bits 2-7 of packed[s][m][4 * r + i]; for m = 3 bits 0-1 of
// packed[s][0], [s][1] and [s][2] at that byte, its low, middle and high 2 bits. Its value is
// d * scales[s] * (q - 32). So one mask makes four times the values of 16 rows x 4 inputs out of
// a 64-byte load (m < 3), three shifts and a few masks or selects the fourth group's: half the
// operations the 4 + 2 bits of GGML's layout took, which bound the product on AVX512-VNNI.
struct StripTileQ6 {
    uint8_t packed[16][3][4 * kStripRows];
    int8_t scales[16][kStripRows];
    ggml_fp16_t d[kStripRows];
};

// Q8_0: 16 rows x 256 inputs in 8 blocks of 32 (one scale each). Input 4g + i (g < 64, i < 4) of
// row r is qs[g][4 * r + i], GGML's int8 value as it is; its value is d[g / 8][r] * q. The same
// bytes as GGML's blocks, moved: GGML's Q8_0 product, one row at a time, converts each block's
// sum to float for every row of the input, and on two threads that, not memory, bounds a step.
struct StripTileQ8 {
    int8_t qs[64][4 * kStripRows];
    ggml_fp16_t d[8][kStripRows];
};

// Bytes of one tile of the format.
size_t strip_tile_bytes(StripFormat format);

// Whether a weight of `type` with `rows` rows of `inputs` can be laid out in strips (Q4_K, Q5_K,
// Q6_K or Q8_0, inputs a multiple of kStripSuperblock, rows of kStripRows), and in which format.
bool strip_format_for(ggml_type type, int64_t inputs, int64_t rows, StripFormat &format);

// Lays out a fitting weight's rows (GGML blocks at `blocks`) in strips at `strips`
// (rows / kStripRows * inputs / 256 tiles).
void lay_out_strips(StripFormat format, int64_t inputs, int64_t rows, const void *blocks, void *strips);

} // namespace lofi
