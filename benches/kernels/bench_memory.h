// What the kernel benchmarks share: buffers on 2 MB pages as the daemon keeps its weights and
// caches (huge_pages.h's advice), the plain read they are measured against, and a stopwatch.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <immintrin.h>

#include "huge_pages.h"

inline char *huge_page_buffer(size_t bytes) {
    constexpr size_t kPage = 2 << 20;
    const size_t allocated = (bytes + kPage - 1) / kPage * kPage;
    char *memory = static_cast<char *>(std::aligned_alloc(kPage, allocated));
    lofi::ask_for_huge_pages(memory, allocated);
    return memory;
}

// Sums the `bytes` at `at` (whole runs of 128), 128 bytes a step in four independent sums.
__attribute__((target("avx2"))) inline uint64_t read_bytes(const char *at, size_t bytes) {
    const auto *p = reinterpret_cast<const __m256i *>(at);
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 4 <= bytes / 32; i += 4) {
        a = _mm256_add_epi64(a, _mm256_loadu_si256(p + i));
        b = _mm256_add_epi64(b, _mm256_loadu_si256(p + i + 1));
        c = _mm256_add_epi64(c, _mm256_loadu_si256(p + i + 2));
        d = _mm256_add_epi64(d, _mm256_loadu_si256(p + i + 3));
    }
    const __m256i sum = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
    return static_cast<uint64_t>(_mm256_extract_epi64(sum, 0));
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}
