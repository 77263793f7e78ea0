// What our x86 CPU kernels (kv_kernels, strip_kernels, elu_kernel) share: each level's target
// attributes (cpu_features.h chooses the level at run time, whatever the build's baseline), a
// lane maximum, int32 packed to int8 in order, a broadcast of four int8 values for the int8 dot
// products, asking for memory ahead of use (tiles_ahead.h paces it), and exp for ELU and the
// softmax.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "cpu_features.h"

#define LOFI_X86 1
#define LOFI_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LOFI_AVX_VNNI __attribute__((target("avx2,fma,f16c,avxvnni")))
#define LOFI_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni,fma,f16c")))

// Around AVX-512 code: GCC 12's AVX-512 conversions start from an "undefined" register it then
// calls uninitialised (GCC bug 105593).
#define LOFI_AVX512_BEGIN _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define LOFI_AVX512_END _Pragma("GCC diagnostic pop")

namespace lofi {

// One prefetch instruction per cache line, as volatile assembly: GCC 12 deleted loops of
// _mm_prefetch whose addresses came through a small struct (the attention's tiles: its passes
// asked for nothing, and ran ~15 % slower for it).
#define LOFI_PREFETCH_LINES(instruction, start, bytes)                                                                   \
    for (size_t line = 0; line < (bytes); line += 64) {                                                                  \
        asm volatile(instruction " %0" : : "m"(*(static_cast<const char *>(start) + line)));                              \
    }

// Asks for the `bytes` at `next` ahead of their use: the weights' and caches' streams stall
// without it (the strips' product ran 1.5x slower).
inline void prefetch(const void *next, size_t bytes) { LOFI_PREFETCH_LINES("prefetcht0", next, bytes) }

// Asks L2 only for the `bytes` at `ahead`: for what is read a little later than `prefetch`'s.
inline void prefetch_to_l2(const void *ahead, size_t bytes) { LOFI_PREFETCH_LINES("prefetcht1", ahead, bytes) }

// Asks for the `bytes` at `next`, the block after the one computed: into L1 or L2 as this CPU
// reads faster (cpu_features.h's kNextBlockToL1).
inline void ask_for_next(const void *next, size_t bytes) {
    if (kNextBlockToL1) {
        prefetch(next, bytes);
    } else {
        prefetch_to_l2(next, bytes);
    }
}

// The largest of 8 lanes.
LOFI_AVX2 inline float largest_lane(__m256 x) {
    __m128 half = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    half = _mm_max_ps(half, _mm_movehl_ps(half, half));
    return _mm_cvtss_f32(_mm_max_ss(half, _mm_movehdup_ps(half)));
}

// 32 int32 (within int8, or with Unsigned within uint8) as 32 bytes in order: the packs
// interleave 4-lane groups, the permutation puts them back.
template <bool Unsigned = false> LOFI_AVX2 inline __m256i packed_int8(const __m256i *x) {
    const __m256i words[2] = {_mm256_packs_epi32(x[0], x[1]), _mm256_packs_epi32(x[2], x[3])};
    const __m256i bytes = Unsigned ? _mm256_packus_epi16(words[0], words[1]) : _mm256_packs_epi16(words[0], words[1]);
    return _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// The four bytes at `bytes` in every 32-bit lane.
LOFI_AVX2 inline __m256i broadcast4(const void *bytes) {
    int32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return _mm256_set1_epi32(word);
}

// exp(x) - c (one rounding) for x <= 0, Cephes' expf: x = n ln2 + r with |r| <= ln2 / 2, a
// degree-7 polynomial in r, scaled by 2^n. Absolute error ~1e-7: ELU takes c = 1 (expm1's
// relative precision near 0 is not needed, what follows adds it to values of order 1), the
// softmax c = 0.
LOFI_AVX2 inline __m256 exp_minus(__m256 x, __m256 c) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f)); // exp(-87) is ~0 in f32; 2^n stays normal
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 e = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1.0f));
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_fmsub_ps(e, _mm256_castsi256_ps(two_n), c);
}

LOFI_AVX512_BEGIN
LOFI_AVX512 inline __m512i broadcast4_512(const void *bytes) {
    int32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return _mm512_set1_epi32(word);
}
LOFI_AVX512_END

} // namespace lofi
#endif
