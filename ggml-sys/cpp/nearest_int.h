// Rounding to the nearest integer without a libm call: std::lrintf is one (errno), and the
// quantizers of activations and caches round every element of every step (it was 1-2 % of a
// generation).
#pragma once

#include <cstdint>
#include <cstring>

namespace lofi {

// x rounded to the nearest integer, ties to even (as lrintf in the default rounding mode), for
// |x| < 2^22: adding 1.5 * 2^23 leaves the integer in the float's low mantissa bits (GGML's
// nearest_int).
inline int32_t nearest_int(float x) {
    const float shifted = x + 12582912.0f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof(bits));
    return (bits & 0x007fffff) - 0x00400000;
}

} // namespace lofi
