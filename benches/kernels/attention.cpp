// Decode-time attention (kv_kernels.h: key scores, softmax, weighted values, as attend_op runs
// them) against a plain read of the same bytes, over musicgen-small's 24 layers of int8-int4
// self-attention caches (16 heads x 2 guidance branches) at a few cache lengths, on 2 OpenMP
// threads sharing the heads as attend_op does, a barrier after each layer. The level is this
// CPU's, or LOFI_CPU_KERNELS's cap.
//
// Usage: attention [ITERATIONS]; built and run by benches/kernels.sh.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench_memory.h"
#include "cpu_features.h"
#include "kv_kernels.h"

using namespace lofi;

namespace {

constexpr int kThreads = 2, kLayers = 24, kPairsPerLayer = 32, kRounds = 3;
constexpr int64_t kHeadSize = 64, kCapacity = 1536;
constexpr KvType kType{KvElement::int8, KvElement::int4};

// Reads a buffer larger than this CPU's last-level cache: in a step, the weights and the other
// layers' caches pass between two reads of a layer's cache, so the bench starts each iteration
// with it evicted (the host reports 480 MB of L3; 122 MB of cache read from there twice as fast).
void evict_caches() {
    static const size_t bytes = size_t{1} << 30;
    static char *buffer = [] {
        char *memory = huge_page_buffer(bytes);
        std::memset(memory, 1, bytes);
        return memory;
    }();
    volatile uint64_t sink = read_bytes(buffer, bytes);
    (void)sink;
}

void run(int64_t n, int iterations) {
    const int64_t pairs = kLayers * kPairsPerLayer;
    const size_t key_row = key_tile_bytes(kType.key, kHeadSize) * ((kCapacity + kKeyTile - 1) / kKeyTile);
    const size_t value_row = values_bytes(kType.value, kHeadSize, kCapacity);
    char *keys = huge_page_buffer(pairs * key_row), *values = huge_page_buffer(pairs * value_row);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> vector(kHeadSize);
    for (int64_t pair = 0; pair < pairs; pair++) {
        for (int64_t position = 0; position < n; position++) {
            std::generate(vector.begin(), vector.end(), [&] { return normal(rng); });
            store_key(kType.key, kHeadSize, vector.data(), keys + pair * key_row, position);
            std::generate(vector.begin(), vector.end(), [&] { return normal(rng); });
            store_value(kType.value, kHeadSize, vector.data(), values + pair * value_row, position);
        }
    }
    std::vector<float> queries(pairs * kHeadSize), out(pairs * kHeadSize);
    std::generate(queries.begin(), queries.end(), [&] { return normal(rng); });
    // What a pass reads: the key tiles holding n positions, the values up to n.
    const size_t key_bytes = key_tile_bytes(kType.key, kHeadSize) * ((n + kKeyTile - 1) / kKeyTile);
    const size_t value_bytes = values_bytes(kType.value, kHeadSize, n);
    const double total = static_cast<double>(pairs) * static_cast<double>(key_bytes + value_bytes);

    double best_attention = 1e9, best_read = 1e9;
    volatile uint64_t sink = 0;
    for (int round = 0; round < kRounds; round++) {
        double attention = 0.0, read = 0.0;
        for (int it = 0; it < iterations; it++) {
            evict_caches();
            auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(kThreads)
            {
                const int ith = omp_get_thread_num();
                std::vector<float> weights(n);
                for (int layer = 0; layer < kLayers; layer++) {
                    const int64_t first = layer * kPairsPerLayer, last = first + kPairsPerLayer;
                    for (int64_t pair = first + ith; pair < last; pair += kThreads) {
                        key_scores(kType.key, kHeadSize, queries.data() + pair * kHeadSize, keys + pair * key_row, n, weights.data());
                        ask_for_values(kType.value, kHeadSize, values + pair * value_row, n);
                        if (pair + kThreads < last) {
                            ask_for_keys(kType.key, kHeadSize, keys + (pair + kThreads) * key_row, n);
                        }
                        softmax(weights.data(), n, 0.125f);
                        weighted_values(kType.value, kHeadSize, weights.data(), values + pair * value_row, n, out.data() + pair * kHeadSize);
                    }
#pragma omp barrier
                }
            }
            attention += seconds_since(start);
        }
        for (int it = 0; it < iterations; it++) {
            evict_caches();
            auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(kThreads)
            {
                const int ith = omp_get_thread_num();
                uint64_t sum = 0;
                for (int layer = 0; layer < kLayers; layer++) {
                    const int64_t first = layer * kPairsPerLayer, last = first + kPairsPerLayer;
                    for (int64_t pair = first + ith; pair < last; pair += kThreads) {
                        sum += read_bytes(keys + pair * key_row, key_bytes) + read_bytes(values + pair * value_row, value_bytes);
                    }
#pragma omp barrier
                }
                sink = sink + sum;
            }
            read += seconds_since(start);
        }
        best_attention = std::min(best_attention, attention / iterations);
        best_read = std::min(best_read, read / iterations);
    }
    std::printf("  int8-int4 attention, %4ld positions, %s: %5.2f ms (%4.1f GB/s over %.0f MB), the same bytes read %5.2f ms (%4.1f GB/s): %.2fx\n",
                static_cast<long>(n), cpu_kernels_name(), best_attention * 1e3, total / best_attention / 1e9, total / 1e6,
                best_read * 1e3, total / best_read / 1e9, best_attention / best_read);
    std::free(keys);
    std::free(values);
}

} // namespace

int main(int argc, char **argv) {
    const int iterations = argc > 1 ? std::max(1, std::atoi(argv[1])) : 20;
    for (int64_t n : {250, 1000, 1500}) {
        run(n, iterations);
    }
    return 0;
}
