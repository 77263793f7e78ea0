// What an attention cache's keys and values are made of (kv_cache.h's types; F32, F16, int8
// with a scale per position and head, or 4-bit for values), and the positions a tile of the CPU
// layout holds (kv_kernels.h).
#pragma once

#include <cstdint>

namespace lofi {

enum class KvElement { f32, f16, int8, int4 };

// The elements of a cache's keys and of its values.
struct KvType {
    KvElement key = KvElement::f16, value = KvElement::f16;
};

// Positions per tile, of keys and of values. A key tile is [head size][kKvTile] elements (int8:
// then kKvTile f32 scales; F32 and F16 keys of a cache of fewer positions, such as a prompt's
// cross-attention cache, are laid out for as many columns as it holds, rounded up to 16:
// KvLayout::key_columns); a value tile is kKvTile F32 or F16 rows, or for int8 and int4 values
// kKvTile positions with a dimension's positions side by side, then their scales. int4 values keep
// their first tile int8: early in a track its positions are all there is to attend to, so no
// average over many positions hides a value's error, and a decoder keeps attending to its first
// positions (an attention sink) all along.
constexpr int64_t kKvTile = 64;

} // namespace lofi
