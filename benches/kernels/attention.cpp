// Decode-time attention (kv_kernels.h's attend_pairs, as attend_op runs it) against a plain read
// of the same bytes in the same order, over musicgen-small's 24 layers of int8-int4 self-attention
// caches (16 heads x 2 guidance branches) at a few cache lengths, on 2 OpenMP threads sharing the
// heads as attend_op does, a barrier after each layer. The level is this CPU's, or
// LOFI_CPU_KERNELS's cap.
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
    const KvLayout layout{kType, kHeadSize, kPairsPerLayer, kCapacity, kThreads};
    const size_t layer_keys = layout.keys_bytes(), layer_values = layout.values_bytes();
    char *keys = huge_page_buffer(kLayers * layer_keys), *values = huge_page_buffer(kLayers * layer_values);
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> key(kHeadSize), value(kHeadSize);
    for (int layer = 0; layer < kLayers; layer++) {
        for (int64_t pair = 0; pair < kPairsPerLayer; pair++) {
            for (int64_t position = 0; position < n; position++) {
                std::generate(key.begin(), key.end(), [&] { return normal(rng); });
                std::generate(value.begin(), value.end(), [&] { return normal(rng); });
                store_position(layout, keys + layer * layer_keys, values + layer * layer_values, pair, position, key.data(), value.data());
            }
        }
    }
    std::vector<float> queries(kLayers * kPairsPerLayer * kHeadSize), out(queries.size());
    std::generate(queries.begin(), queries.end(), [&] { return normal(rng); });
    // What a pass reads, and in what order: tile by tile, the tiles of a thread's pairs side by side.
    const int64_t tiles = (n + kKvTile - 1) / kKvTile;
    double total = 0.0;
    for (int64_t t = 0; t < tiles; t++) {
        total += static_cast<double>(kLayers * kPairsPerLayer) * static_cast<double>(layout.key_tile_bytes() + layout.value_tile_bytes(t));
    }

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
                const int64_t first = kPairsPerLayer * ith / kThreads, last = kPairsPerLayer * (ith + 1) / kThreads;
                for (int layer = 0; layer < kLayers; layer++) {
                    const int64_t at = layer * kPairsPerLayer * kHeadSize;
                    attend_pairs(layout, keys + layer * layer_keys, values + layer * layer_values, queries.data() + at, first, last, n,
                                 0.125f, out.data() + at);
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
                const int64_t first = kPairsPerLayer * ith / kThreads, last = kPairsPerLayer * (ith + 1) / kThreads;
                uint64_t sum = 0;
                for (int layer = 0; layer < kLayers; layer++) {
                    const char *layer_k = keys + layer * layer_keys, *layer_v = values + layer * layer_values;
                    // The thread's pairs are one run: tile t of each, side by side.
                    for (int64_t t = 0; t < tiles; t++) {
                        sum += read_bytes(layer_k + layout.key_offset(t, first), (last - first) * layout.key_tile_bytes());
                    }
                    for (int64_t t = 0; t < tiles; t++) {
                        sum += read_bytes(layer_v + layout.value_offset(t, first), (last - first) * layout.value_tile_bytes(t));
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
    // The kernels' own speed: each thread over its pairs of one layer, held in its L2 (~0.4 MB at
    // 250 positions, ~2.6 MB at 1500: past a 2 MB L2, then partly from L3).
    double best_resident = 1e9;
    const double layer_bytes = total / kLayers;
    for (int round = 0; round < kRounds; round++) {
        const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(kThreads)
        {
            const int ith = omp_get_thread_num();
            const int64_t first = kPairsPerLayer * ith / kThreads, last = kPairsPerLayer * (ith + 1) / kThreads;
            for (int it = 0; it < 10 * iterations; it++) {
                attend_pairs(layout, keys, values, queries.data(), first, last, n, 0.125f, out.data());
            }
        }
        best_resident = std::min(best_resident, seconds_since(start) / (10 * iterations));
    }
    std::printf("  int8-int4 attention, %4ld positions, %s: %5.2f ms (%4.1f GB/s over %.0f MB), the same bytes read %5.2f ms (%4.1f GB/s): "
                "%.2fx; one layer's again, %d threads: %.1f GB/s\n",
                static_cast<long>(n), cpu_kernels_name(), best_attention * 1e3, total / best_attention / 1e9, total / 1e6,
                best_read * 1e3, total / best_read / 1e9, best_attention / best_read, kThreads, layer_bytes / best_resident / 1e9);
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
