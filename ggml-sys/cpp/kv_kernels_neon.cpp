// The attention's neon-dotprod kernels (kv_tiles.h): 4 lanes to a register, sdot's integer
// products for int8 keys and int8/int4 values.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kv_tiles.h"

#ifdef LOFI_ARM
namespace lofi::kv {

namespace {

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

} // namespace

Kernels neon_dotprod_kernels() { return {tile_scores_neon, weighted_rows_neon, weighted_tile_neon, exponentials_neon}; }

} // namespace lofi::kv
#endif
