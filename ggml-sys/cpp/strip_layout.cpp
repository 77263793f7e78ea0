#include "strip_layout.h"

#include <cstring>

namespace lofi {

namespace {

// A Q4_K block as GGUF stores it (GGML's block_q4_K): 256 weights, each
// d * scale[j] * q - dmin * min[j] in sub-block j of 32.
struct Q4KBlock {
    ggml_fp16_t d, dmin;
    uint8_t scales[12]; // 8 scales and 8 mins of 6 bits
    uint8_t qs[128];    // bytes 32c..32c+31: sub-block 2c in the low nibbles, 2c+1 in the high ones
};

constexpr int64_t kSuperblock = 256;

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

uint8_t nibble(const Q4KBlock &block, int j, int k) { return (block.qs[32 * (j / 2) + k] >> (4 * (j % 2))) & 0x0F; }

} // namespace

bool strip_layout_fits(ggml_type type, int64_t inputs, int64_t rows) {
    return type == GGML_TYPE_Q4_K && ggml_type_size(GGML_TYPE_Q4_K) == sizeof(Q4KBlock) &&
           ggml_blck_size(GGML_TYPE_Q4_K) == kSuperblock && inputs % kSuperblock == 0 && rows % kStripRows == 0;
}

void lay_out_strips(int64_t inputs, int64_t rows, const void *q4k, void *strips) {
    const int64_t superblocks = inputs / kSuperblock;
    const auto *blocks = static_cast<const Q4KBlock *>(q4k);
    auto *tile = static_cast<StripTile *>(strips);
    for (int64_t strip = 0; strip < rows / kStripRows; strip++) {
        for (int64_t b = 0; b < superblocks; b++, tile++) {
            for (int64_t r = 0; r < kStripRows; r++) {
                const Q4KBlock &block = blocks[(strip * kStripRows + r) * superblocks + b];
                tile->d[r] = block.d;
                tile->dmin[r] = block.dmin;
                for (int j = 0; j < 8; j++) {
                    scale_and_min(block.scales, j, tile->scales[j][r], tile->mins[j][r]);
                    for (int g = 0; g < 4; g++) {
                        for (int i = 0; i < 4; i++) {
                            const int k = 8 * g + i;
                            tile->qs[j][g][4 * r + i] = static_cast<uint8_t>(nibble(block, j, k) | nibble(block, j, k + 4) << 4);
                        }
                    }
                }
            }
        }
    }
}

} // namespace lofi
