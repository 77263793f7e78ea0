#include "read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "cpu_features.h"
#include "cpu_simd.h"
#include "huge_pages.h"

namespace lofi {

namespace {

constexpr size_t kBytes = size_t{1} << 30, kHugePage = size_t{2} << 20;

// The sum of n 64-bit words (n a multiple of 16), read in four independent streams of loads.
uint64_t sum_portable(const uint64_t *words, size_t n) {
    uint64_t acc[4] = {0, 0, 0, 0};
    for (size_t i = 0; i < n; i += 4) {
        for (int k = 0; k < 4; k++) {
            acc[k] += words[i + k];
        }
    }
    return acc[0] + acc[1] + acc[2] + acc[3];
}

#ifdef LOFI_X86
LOFI_AVX2 uint64_t sum_avx2(const uint64_t *words, size_t n) {
    const auto *at = reinterpret_cast<const __m256i *>(words);
    __m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256()};
    for (size_t i = 0; i < n / 4; i += 4) {
        for (int k = 0; k < 4; k++) {
            acc[k] = _mm256_add_epi64(acc[k], _mm256_load_si256(at + i + k));
        }
    }
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i *>(lanes), _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])));
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}
#endif

uint64_t sum_words(const uint64_t *words, size_t n) {
#ifdef LOFI_X86
    if (cpu_kernels_vectorised()) {
        return sum_avx2(words, n);
    }
#endif
    return sum_portable(words, n);
}

} // namespace

double read_bandwidth(int threads) {
    threads = std::max(threads, 1);
    auto *buffer = static_cast<uint64_t *>(std::aligned_alloc(kHugePage, kBytes));
    if (buffer == nullptr) {
        return 0.0;
    }
    ask_for_huge_pages(buffer, kBytes);
    std::memset(buffer, 1, kBytes); // every page present before the passes
    const size_t words = kBytes / sizeof(uint64_t), share = words / threads / 16 * 16;
    double best = 0.0;
    for (int pass = 0; pass < 3; pass++) {
        std::vector<uint64_t> sums(threads);
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> readers;
        for (int t = 0; t < threads; t++) {
            readers.emplace_back([&, t] { sums[t] = sum_words(buffer + t * share, share); });
        }
        for (std::thread &reader : readers) {
            reader.join();
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        volatile uint64_t kept = sums[0]; // the reads are used
        (void)kept;
        best = std::max(best, static_cast<double>(share * threads * sizeof(uint64_t)) / seconds);
    }
    std::free(buffer);
    return best;
}

} // namespace lofi
