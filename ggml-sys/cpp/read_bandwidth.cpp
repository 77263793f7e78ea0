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

// A run of whole 128-byte blocks (sum_words' 16 words, aligned for its loads).
struct Words {
    const uint64_t *first;
    size_t n;
};

// Each thread's share of the blocks of `ranges`, in order.
std::vector<std::vector<Words>> shares_of(const std::vector<ByteRange> &ranges, int threads) {
    constexpr size_t kBlock = 128;
    std::vector<Words> blocks;
    size_t total = 0;
    for (const ByteRange &range : ranges) {
        const auto begin = (reinterpret_cast<uintptr_t>(range.data) + kBlock - 1) / kBlock * kBlock;
        const auto end = (reinterpret_cast<uintptr_t>(range.data) + range.bytes) / kBlock * kBlock;
        if (end > begin) {
            blocks.push_back({reinterpret_cast<const uint64_t *>(begin), (end - begin) / sizeof(uint64_t)});
            total += blocks.back().n;
        }
    }
    std::vector<std::vector<Words>> shares(threads);
    // Rounded up, so that the threads' shares hold every block (rounding total / threads down
    // first left blocks to a last thread already full past 16 threads, and the loop never ended).
    const size_t per_thread = ((total + threads - 1) / threads + 15) / 16 * 16;
    size_t taken = 0; // of the current thread's share
    int t = 0;
    for (Words left : blocks) {
        while (left.n > 0) {
            const size_t n = std::min(left.n, per_thread - taken);
            shares[t].push_back({left.first, n});
            left = {left.first + n, left.n - n};
            taken += n;
            if (taken == per_thread && t + 1 < threads) {
                t++;
                taken = 0;
            }
        }
    }
    return shares;
}

} // namespace

double read_bandwidth(const std::vector<ByteRange> &ranges, int threads) {
    threads = std::max(threads, 1);
    const std::vector<std::vector<Words>> shares = shares_of(ranges, threads);
    size_t bytes = 0;
    for (const std::vector<Words> &share : shares) {
        for (const Words &words : share) {
            bytes += words.n * sizeof(uint64_t);
        }
    }
    double best = 0.0;
    for (int pass = 0; pass < 3; pass++) {
        std::vector<uint64_t> sums(threads);
        const auto start = std::chrono::steady_clock::now();
        std::vector<std::thread> readers;
        for (int t = 0; t < threads; t++) {
            readers.emplace_back([&, t] {
                for (const Words &words : shares[t]) {
                    sums[t] += sum_words(words.first, words.n);
                }
            });
        }
        for (std::thread &reader : readers) {
            reader.join();
        }
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        volatile uint64_t kept = sums[0]; // the reads are used
        (void)kept;
        best = std::max(best, static_cast<double>(bytes) / seconds);
    }
    return best;
}

double read_bandwidth(int threads) {
    auto *buffer = static_cast<uint64_t *>(std::aligned_alloc(kHugePage, kBytes));
    if (buffer == nullptr) {
        return 0.0;
    }
    ask_for_huge_pages(buffer, kBytes);
    std::memset(buffer, 1, kBytes); // every page present before the passes
    const double bandwidth = read_bandwidth({{buffer, kBytes}}, threads);
    std::free(buffer);
    return bandwidth;
}

} // namespace lofi
