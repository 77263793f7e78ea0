// What our x86 CPU kernels (kv_kernels, strip_kernels, elu_kernel) share: each level's target
// attributes (cpu_features.h chooses the level at run time, whatever the build's baseline), a
// broadcast of four int8 values for the int8 dot products, and asking for memory ahead of use.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#define LOFI_X86 1
#define LOFI_AVX2 __attribute__((target("avx2,fma,f16c")))
#define LOFI_AVX512 __attribute__((target("avx512f,avx512bw,avx512vnni,fma,f16c")))

// Around AVX-512 code: GCC 12's AVX-512 conversions start from an "undefined" register it then
// calls uninitialised (GCC bug 105593).
#define LOFI_AVX512_BEGIN _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wmaybe-uninitialized\"")
#define LOFI_AVX512_END _Pragma("GCC diagnostic pop")

namespace lofi {

// Asks for the `bytes` at `next` ahead of their use: the weights' and caches' streams stall
// without it (the strips' product ran 1.5x slower).
inline void prefetch(const void *next, size_t bytes) {
    for (size_t line = 0; line < bytes; line += 64) {
        _mm_prefetch(static_cast<const char *>(next) + line, _MM_HINT_T0);
    }
}

LOFI_AVX2 inline __m256i broadcast4(const int8_t *bytes) {
    int32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return _mm256_set1_epi32(word);
}

LOFI_AVX512_BEGIN
LOFI_AVX512 inline __m512i broadcast4_512(const int8_t *bytes) {
    int32_t word;
    std::memcpy(&word, bytes, sizeof(word));
    return _mm512_set1_epi32(word);
}
LOFI_AVX512_END

} // namespace lofi
#endif
