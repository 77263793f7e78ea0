// The neon-dotprod level's products with weights in strips (strip_kernels.h): 64-bit ARM's
// dot products by element (sdot), a tile's 16 rows as four registers of four rows. Each 16 bytes
// of a tile's 64-byte runs hold 4 rows x 4 inputs, so one sdot multiplies them by a group of
// four inputs (a lane of a register of the row's inputs) and adds each row's four products to
// its lane: the AVX512-VNNI kernels' scheme on 128-bit registers.
#include "strip_kernels.h"

#ifdef __aarch64__
#include "cpu_neon.h"

namespace lofi {

namespace {

// A tile's 16 rows: four registers of 4.
constexpr int kQuarters = kStripRows / 4;

// 16 float16 scales as four registers of float32.
LOFI_DOTPROD inline void load_scales(const ggml_fp16_t *halves, float32x4_t *out) {
    for (int q = 0; q < kQuarters; q++) {
        out[q] = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(reinterpret_cast<const uint16_t *>(halves) + 4 * q)));
    }
}

// 16 bytes widened to four registers of int32 (unsigned or signed bytes).
LOFI_DOTPROD inline void widen(uint8x16_t bytes, int32x4_t *out) {
    const uint16x8_t low = vmovl_u8(vget_low_u8(bytes)), high = vmovl_u8(vget_high_u8(bytes));
    out[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(low)));
    out[1] = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(low)));
    out[2] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(high)));
    out[3] = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(high)));
}

LOFI_DOTPROD inline void widen(int8x16_t bytes, int32x4_t *out) {
    const int16x8_t low = vmovl_s8(vget_low_s8(bytes)), high = vmovl_s8(vget_high_s8(bytes));
    out[0] = vmovl_s16(vget_low_s16(low));
    out[1] = vmovl_s16(vget_high_s16(low));
    out[2] = vmovl_s16(vget_low_s16(high));
    out[3] = vmovl_s16(vget_high_s16(high));
}

// Bit `Bit` of each byte moved to bit 4 (the other bits anywhere): a Q5 value's fifth bit.
template <int Bit> LOFI_DOTPROD inline uint8x16_t moved_to_bit4(uint8x16_t bits) {
    if constexpr (Bit <= 4) {
        return vshlq_n_u8(bits, 4 - Bit);
    } else {
        return vshrq_n_u8(bits, Bit - 4);
    }
}

// Q4's and Q5's: a sub-block's group g holds inputs 8g..8g+3 in its low nibbles and 8g+4..8g+7
// in its high ones, lanes 2g % 4 and (2g + 1) % 4 of the register of inputs 16 (g / 2)...
template <int R, typename Tile, typename = std::enable_if_t<kLowFourBits<Tile>>>
LOFI_DOTPROD void superblock_neon(const Tile &t, const QuantizedRow *rows, int64_t b, float32x4_t (*acc)[kQuarters]) {
    const uint8x16_t nibble = vdupq_n_u8(0x0F), bit4 = vdupq_n_u8(0x10);
    int32x4_t scaled[R][kQuarters] = {}, mins[R][kQuarters] = {};
    for (int j = 0; j < 8; j++) {
        int8x16_t in[R][2];
        for (int r = 0; r < R; r++) {
            in[r][0] = vld1q_s8(group_inputs(rows[r], b, j, 0));
            in[r][1] = vld1q_s8(group_inputs(rows[r], b, j, 2));
        }
        uint8x16_t fifth[kQuarters];
        if constexpr (kFifthBits<Tile>) {
            for (int q = 0; q < kQuarters; q++) {
                fifth[q] = vld1q_u8(t.fifth_bits[j] + 16 * q);
            }
        }
        int32x4_t dot[R][kQuarters] = {};
        for_each_lane<4>([&](auto g) LOFI_DOTPROD {
            constexpr int G = decltype(g)::value;
            for (int q = 0; q < kQuarters; q++) {
                const uint8x16_t w = vld1q_u8(t.qs[j][G] + 16 * q);
                uint8x16_t low = vandq_u8(w, nibble), high = vshrq_n_u8(w, 4);
                if constexpr (kFifthBits<Tile>) {
                    low = vbslq_u8(bit4, moved_to_bit4<2 * G>(fifth[q]), low);
                    high = vbslq_u8(bit4, moved_to_bit4<2 * G + 1>(fifth[q]), high);
                }
                for (int r = 0; r < R; r++) {
                    dot[r][q] = vdotq_laneq_s32(dot[r][q], vreinterpretq_s8_u8(low), in[r][G / 2], (2 * G) % 4);
                    dot[r][q] = vdotq_laneq_s32(dot[r][q], vreinterpretq_s8_u8(high), in[r][G / 2], (2 * G + 1) % 4);
                }
            }
        });
        int32x4_t scale[kQuarters];
        widen(vld1q_u8(t.scales[j]), scale);
        for (int r = 0; r < R; r++) {
            for (int q = 0; q < kQuarters; q++) {
                scaled[r][q] = vmlaq_s32(scaled[r][q], dot[r][q], scale[q]);
            }
        }
    }
    // A pair's 32 bytes: each row's mins of sub-blocks 2p and 2p + 1 side by side, taken apart by ld2.
    for (int p = 0; p < 4; p++) {
        const uint8x16x2_t pair = vld2q_u8(t.min_pairs[p]);
        int32x4_t even[kQuarters], odd[kQuarters];
        widen(pair.val[0], even);
        widen(pair.val[1], odd);
        for (int r = 0; r < R; r++) {
            const int32_t even_sum = sum32(rows[r], b, 2 * p), odd_sum = sum32(rows[r], b, 2 * p + 1);
            for (int q = 0; q < kQuarters; q++) {
                mins[r][q] = vmlaq_n_s32(vmlaq_n_s32(mins[r][q], even[q], even_sum), odd[q], odd_sum);
            }
        }
    }
    float32x4_t d[kQuarters], dmin[kQuarters];
    load_scales(t.d, d);
    load_scales(t.dmin, dmin);
    for (int r = 0; r < R; r++) {
        for (int q = 0; q < kQuarters; q++) {
            acc[r][q] = vfmaq_f32(acc[r][q], vcvtq_f32_s32(scaled[r][q]), vmulq_n_f32(d[q], rows[r].d[b]));
            acc[r][q] = vfmsq_f32(acc[r][q], vcvtq_f32_s32(mins[r][q]), vmulq_n_f32(dmin[q], rows[r].d[b]));
        }
    }
}

template <int R>
LOFI_DOTPROD void superblock_neon(const StripTileQ6 &t, const QuantizedRow *rows, int64_t b, float32x4_t (*acc)[kQuarters]) {
    const uint8x16_t low_six = vdupq_n_u8(0x3F);
    int32x4_t scaled[R][kQuarters] = {};
    for (int s = 0; s < 16; s++) { // 16 inputs, one scale
        int8x16_t in[R];
        for (int r = 0; r < R; r++) {
            in[r] = vld1q_s8(rows[r].q + b * kStripSuperblock + 16 * s);
        }
        int32x4_t dot[R][kQuarters] = {};
        for (int q = 0; q < kQuarters; q++) {
            const uint8x16_t p0 = vld1q_u8(t.packed[s][0] + 16 * q), p1 = vld1q_u8(t.packed[s][1] + 16 * q),
                             p2 = vld1q_u8(t.packed[s][2] + 16 * q);
            // Inputs 12..15: bits 0-1 of the three runs as bits 0-1, 2-3 and 4-5, by two
            // shift-and-inserts (each keeps the low two bits it shifts past) and a mask.
            const uint8x16_t fourth = vandq_u8(vsliq_n_u8(p0, vsliq_n_u8(p1, p2, 2), 2), low_six);
            const int8x16_t first = vreinterpretq_s8_u8(vshrq_n_u8(p0, 2)), second = vreinterpretq_s8_u8(vshrq_n_u8(p1, 2)),
                            third = vreinterpretq_s8_u8(vshrq_n_u8(p2, 2));
            for (int r = 0; r < R; r++) {
                dot[r][q] = vdotq_laneq_s32(dot[r][q], first, in[r], 0);
                dot[r][q] = vdotq_laneq_s32(dot[r][q], second, in[r], 1);
                dot[r][q] = vdotq_laneq_s32(dot[r][q], third, in[r], 2);
                dot[r][q] = vdotq_laneq_s32(dot[r][q], vreinterpretq_s8_u8(fourth), in[r], 3);
            }
        }
        int32x4_t scale[kQuarters];
        widen(vld1q_s8(t.scales[s]), scale);
        for (int r = 0; r < R; r++) { // the values' offset of 32 taken off
            const int32x4_t offset = vdupq_n_s32(32 * rows[r].sums[b * 16 + s]);
            for (int q = 0; q < kQuarters; q++) {
                scaled[r][q] = vmlaq_s32(scaled[r][q], vsubq_s32(dot[r][q], offset), scale[q]);
            }
        }
    }
    float32x4_t d[kQuarters];
    load_scales(t.d, d);
    for (int r = 0; r < R; r++) {
        for (int q = 0; q < kQuarters; q++) {
            acc[r][q] = vfmaq_f32(acc[r][q], vcvtq_f32_s32(scaled[r][q]), vmulq_n_f32(d[q], rows[r].d[b]));
        }
    }
}

template <int R>
LOFI_DOTPROD void superblock_neon(const StripTileQ8 &t, const QuantizedRow *rows, int64_t b, float32x4_t (*acc)[kQuarters]) {
    float32x4_t scaled[R][kQuarters] = {};
    for (int j = 0; j < 8; j++) { // 32 inputs, one scale
        int8x16_t in[R][2];
        for (int r = 0; r < R; r++) {
            in[r][0] = vld1q_s8(rows[r].q + b * kStripSuperblock + 32 * j);
            in[r][1] = vld1q_s8(rows[r].q + b * kStripSuperblock + 32 * j + 16);
        }
        int32x4_t dot[R][kQuarters] = {};
        for_each_lane<8>([&](auto k) LOFI_DOTPROD { // the block's groups of four inputs
            constexpr int K = decltype(k)::value;
            for (int q = 0; q < kQuarters; q++) {
                const int8x16_t w = vld1q_s8(t.qs[8 * j + K] + 16 * q);
                for (int r = 0; r < R; r++) {
                    dot[r][q] = vdotq_laneq_s32(dot[r][q], w, in[r][K / 4], K % 4);
                }
            }
        });
        float32x4_t d[kQuarters];
        load_scales(t.d[j], d);
        for (int r = 0; r < R; r++) {
            for (int q = 0; q < kQuarters; q++) {
                scaled[r][q] = vfmaq_f32(scaled[r][q], vcvtq_f32_s32(dot[r][q]), d[q]);
            }
        }
    }
    for (int r = 0; r < R; r++) {
        for (int q = 0; q < kQuarters; q++) {
            acc[r][q] = vfmaq_n_f32(acc[r][q], scaled[r][q], rows[r].d[b]);
        }
    }
}

template <typename Tile, int R>
LOFI_DOTPROD void strips_neon_dotprod(const Tile *tiles, int64_t superblocks, int64_t begin, int64_t end, const QuantizedRow *rows,
                                      float *const *out) {
    for (int64_t s = begin; s < end; s++) {
        float32x4_t acc[R][kQuarters] = {};
        for (int64_t b = 0; b < superblocks; b++) {
            superblock_neon<R>(tiles[s * superblocks + b], rows, b, acc);
        }
        for (int r = 0; r < R; r++) {
            for (int q = 0; q < kQuarters; q++) {
                vst1q_f32(out[r] + s * kStripRows + 4 * q, acc[r][q]);
            }
        }
    }
}

} // namespace

StripKernel strip_kernel_neon_dotprod(StripFormat format) {
    return by_format(format, [](auto tile) -> StripKernel {
        using Tile = typename decltype(tile)::type;
        return one_or_two_rows<Tile, strips_neon_dotprod<Tile, 1>, strips_neon_dotprod<Tile, 2>>;
    });
}

} // namespace lofi
#endif
