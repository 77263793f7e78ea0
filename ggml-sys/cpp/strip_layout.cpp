#include "strip_layout.h"

#include <cstring>

namespace lofi {

namespace {

// The blocks as GGUF stores them (GGML's block_q4_K, block_q5_K, block_q6_K and block_q8_0; a
// superblock of 256 inputs is eight Q8_0 blocks).
struct Q4KBlock {
    ggml_fp16_t d, dmin;
    uint8_t scales[12]; // 8 scales and 8 mins of 6 bits
    uint8_t qs[128];    // bytes 32c..32c+31: sub-block 2c in the low nibbles, 2c+1 in the high ones
};

struct Q5KBlock {
    ggml_fp16_t d, dmin;
    uint8_t scales[12]; // as Q4_K's
    uint8_t qh[32];     // input l of sub-block j: its fifth bit at bit j of qh[l]
    uint8_t qs[128];    // the low four bits, as Q4_K's
};

struct Q6KBlock {
    uint8_t ql[128]; // per half of 128 inputs: 64 bytes, low 4 bits of its four quarters
    uint8_t qh[64];  // per half: 32 bytes, high 2 bits of its four quarters
    int8_t scales[16];
    ggml_fp16_t d;
};

struct Q80Block {
    ggml_fp16_t d;
    int8_t qs[32];
};

struct Q80Superblock {
    Q80Block blocks[8];
};

// Sub-block j's 6-bit scale and min (GGML's get_scale_min_k4).
void scale_and_min(const uint8_t *packed, int j, uint8_t &scale, uint8_t &min) {
    if (j < 4) {
        scale = packed[j] & 63;
        min = packed[j + 4] & 63;
    } else {
        scale = (packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4);
        min = (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4);
    }
}

// Four bytes at a time: a layout in four-input groups moves 32-bit words.
uint32_t word_at(const uint8_t *bytes) {
    uint32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return word;
}

void put_word(uint8_t *bytes, uint32_t word) { std::memcpy(bytes, &word, sizeof(word)); }

constexpr uint32_t kLowNibbles = 0x0F0F0F0F;

// The 4-bit values at nibbles `shift` (0 or 4) of the bytes at `nibbles` (32 values of a
// sub-block) into row r's place in a Q4 or Q5 tile's qs, sub-block j.
template <typename Tile> void pack_nibbles(Tile &tile, int64_t r, int j, const uint8_t *nibbles, int shift) {
    for (int g = 0; g < 4; g++) {
        const uint32_t first = word_at(nibbles + 8 * g) >> shift & kLowNibbles, second = word_at(nibbles + 8 * g + 4) >> shift & kLowNibbles;
        put_word(tile.qs[j][g] + 4 * r, first | second << 4);
    }
}

// Q4_K's (and Q5_K's) qs: bytes 32c..32c+31 hold sub-block 2c in their low nibbles, 2c+1 in the
// high ones.
template <typename Tile, typename Block> void fill_low_four_bits(Tile &tile, int64_t r, const Block &block) {
    tile.d[r] = block.d;
    tile.dmin[r] = block.dmin;
    for (int j = 0; j < 8; j++) {
        scale_and_min(block.scales, j, tile.scales[j][r], tile.min_pairs[j / 2][2 * r + j % 2]);
        pack_nibbles(tile, r, j, block.qs + 32 * (j / 2), 4 * (j % 2));
    }
}

void fill_q5_row(StripTileQ5 &tile, int64_t r, const Q5KBlock &block) {
    fill_low_four_bits(tile, r, block);
    for (int j = 0; j < 8; j++) {
        for (int l = 0; l < 32; l++) { // input l = 8g + 4h + i: bit 2g + h of byte 4r + i
            const int g = l / 8, h = l / 4 % 2, i = l % 4;
            tile.fifth_bits[j][4 * r + i] |= static_cast<uint8_t>((block.qh[l] >> j & 1) << (2 * g + h));
        }
    }
}

// The 6-bit values of a Q6_K block's 256 inputs, as GGML's dequantize_row_q6_K reads them: each
// half (128 inputs) has 64 bytes of ql, quarters 0 and 1 in the low nibbles of its two 32-byte
// runs, 2 and 3 in the high ones, and 32 bytes of qh, quarter q's top 2 bits at bit 2q of each.
void q6_values(const Q6KBlock &block, uint8_t (&q)[kStripSuperblock]) {
    for (int half = 0; half < 2; half++) {
        const uint8_t *ql = block.ql + 64 * half, *qh = block.qh + 32 * half;
        uint8_t *out = q + 128 * half;
        for (int l = 0; l < 32; l++) {
            out[l] = static_cast<uint8_t>((ql[l] & 0x0F) | (qh[l] & 3) << 4);
            out[l + 32] = static_cast<uint8_t>((ql[l + 32] & 0x0F) | (qh[l] >> 2 & 3) << 4);
            out[l + 64] = static_cast<uint8_t>(ql[l] >> 4 | (qh[l] >> 4 & 3) << 4);
            out[l + 96] = static_cast<uint8_t>(ql[l + 32] >> 4 | (qh[l] >> 6 & 3) << 4);
        }
    }
}

void fill_q6_row(StripTileQ6 &tile, int64_t r, const Q6KBlock &block) {
    tile.d[r] = block.d;
    uint8_t q[kStripSuperblock];
    q6_values(block, q);
    for (int s = 0; s < 16; s++) {
        tile.scales[s][r] = block.scales[s];
        const uint8_t *group = q + 16 * s;
        for (int m = 0; m < 3; m++) {
            for (int i = 0; i < 4; i++) {
                tile.packed[s][m][4 * r + i] = static_cast<uint8_t>(group[4 * m + i] << 2 | (group[12 + i] >> (2 * m) & 3));
            }
        }
    }
}

void fill_q8_row(StripTileQ8 &tile, int64_t r, const Q80Superblock &superblock) {
    for (int j = 0; j < 8; j++) {
        const Q80Block &block = superblock.blocks[j];
        tile.d[j][r] = block.d;
        for (int g = 0; g < 8; g++) {
            std::memcpy(tile.qs[8 * j + g] + 4 * r, block.qs + 4 * g, 4);
        }
    }
}

template <typename Tile, typename Block, typename Fill>
void lay_out(int64_t inputs, int64_t rows, const void *blocks, void *strips, Fill fill) {
    const int64_t superblocks = inputs / kStripSuperblock;
    const auto *source = static_cast<const Block *>(blocks);
    auto *tile = static_cast<Tile *>(strips);
    for (int64_t strip = 0; strip < rows / kStripRows; strip++) {
        for (int64_t b = 0; b < superblocks; b++, tile++) {
            *tile = Tile{};
            for (int64_t r = 0; r < kStripRows; r++) {
                fill(*tile, r, source[(strip * kStripRows + r) * superblocks + b]);
            }
        }
    }
}

} // namespace

size_t strip_tile_bytes(StripFormat format) {
    switch (format) {
    case StripFormat::q4_k:
        return sizeof(StripTileQ4);
    case StripFormat::q5_k:
        return sizeof(StripTileQ5);
    case StripFormat::q6_k:
        return sizeof(StripTileQ6);
    case StripFormat::q8_0:
        break;
    }
    return sizeof(StripTileQ8);
}

bool strip_format_for(ggml_type type, int64_t inputs, int64_t rows, StripFormat &format) {
    if (inputs % kStripSuperblock != 0 || rows % kStripRows != 0) {
        return false;
    }
    // A superblock's bytes as the file holds them: the type's blocks of 256 inputs, or eight of 32.
    const auto holds = [&](size_t superblock_bytes) {
        return ggml_type_size(type) * kStripSuperblock / ggml_blck_size(type) == superblock_bytes;
    };
    if (type == GGML_TYPE_Q4_K && holds(sizeof(Q4KBlock))) {
        format = StripFormat::q4_k;
        return true;
    }
    if (type == GGML_TYPE_Q5_K && holds(sizeof(Q5KBlock))) {
        format = StripFormat::q5_k;
        return true;
    }
    if (type == GGML_TYPE_Q6_K && holds(sizeof(Q6KBlock))) {
        format = StripFormat::q6_k;
        return true;
    }
    if (type == GGML_TYPE_Q8_0 && holds(sizeof(Q80Superblock))) {
        format = StripFormat::q8_0;
        return true;
    }
    return false;
}

void lay_out_strips(StripFormat format, int64_t inputs, int64_t rows, const void *blocks, void *strips) {
    switch (format) {
    case StripFormat::q4_k:
        lay_out<StripTileQ4, Q4KBlock>(inputs, rows, blocks, strips, fill_low_four_bits<StripTileQ4, Q4KBlock>);
        return;
    case StripFormat::q5_k:
        lay_out<StripTileQ5, Q5KBlock>(inputs, rows, blocks, strips, fill_q5_row);
        return;
    case StripFormat::q6_k:
        lay_out<StripTileQ6, Q6KBlock>(inputs, rows, blocks, strips, fill_q6_row);
        return;
    case StripFormat::q8_0:
        lay_out<StripTileQ8, Q80Superblock>(inputs, rows, blocks, strips, fill_q8_row);
        return;
    }
}

} // namespace lofi
