// The strips' product (strip_kernels.h) against a plain read of the same bytes, over the weights
// of musicgen-small's 24 decoder layers in Q4_K, Q5_K, Q6_K or Q8_0 strips, two input rows (a guided step's
// two branches; the cross-attention's one), on 2 OpenMP threads with a barrier after each weight
// as GGML's graph has one after each node. How near memory speed the kernels run, without the
// rest of a decoder step: the kernel ÷ the read is what a step's strips can lose to compute at
// most. Then the threads over a weight held in L2: the kernels' compute speed alone.
//
// Usage: strip_product LEVEL [ITERATIONS]; built and run by benches/kernels.sh.
#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "bench_memory.h"
#include "strip_kernels.h"

using namespace lofi;

namespace {

constexpr int kThreads = 2, kLayers = 24, kRounds = 3;

struct Weight {
    int64_t rows, inputs;
    int branches; // the input rows it multiplies
    const char *tiles;
    size_t bytes;
};

// Per layer: self-attention q, k, v, o and cross-attention q, o (1024 x 1024), the feed-forward
// up (4096 x 1024) and down (1024 x 4096) products; the cross-attention's of the conditioned
// branch alone (the null branch's output is 0: musicgen_decoder.cpp).
std::vector<Weight> decoder_weights(size_t tile_bytes) {
    std::vector<Weight> weights;
    for (int layer = 0; layer < kLayers; layer++) {
        for (int i = 0; i < 6; i++) {
            weights.push_back({1024, 1024, i < 4 ? 2 : 1, nullptr, 0});
        }
        weights.push_back({4096, 1024, 2, nullptr, 0});
        weights.push_back({1024, 4096, 2, nullptr, 0});
    }
    for (Weight &w : weights) {
        w.bytes = static_cast<size_t>(w.rows / kStripRows * (w.inputs / kStripSuperblock)) * tile_bytes;
    }
    return weights;
}

// Thread ith's share [begin, end) of n.
void share(int64_t n, int ith, int64_t &begin, int64_t &end) {
    begin = n * ith / kThreads;
    end = n * (ith + 1) / kThreads;
}

// Reads thread ith's share of a weight's bytes.
uint64_t read_share(const Weight &w, int ith) {
    int64_t begin = 0, end = 0;
    share(static_cast<int64_t>(w.bytes / 128), ith, begin, end);
    return read_bytes(w.tiles + begin * 128, static_cast<size_t>(end - begin) * 128);
}

const char *format_name(StripFormat format) {
    switch (format) {
    case StripFormat::q4_k:
        return "Q4_K";
    case StripFormat::q5_k:
        return "Q5_K";
    case StripFormat::q6_k:
        return "Q6_K";
    case StripFormat::q8_0:
        break;
    }
    return "Q8_0";
}

void run(StripFormat format, CpuKernels level, int iterations) {
    const size_t tile_bytes = strip_tile_bytes(format);
    std::vector<Weight> weights = decoder_weights(tile_bytes);
    size_t total = 0;
    for (const Weight &w : weights) {
        total += w.bytes;
    }
    // Random bytes, the scales' halves kept small and finite.
    char *memory = huge_page_buffer(total);
    std::mt19937 rng(1);
    for (size_t i = 0; i < total; i += 4) {
        const uint32_t word = rng() & 0x3f3f3f3fu;
        std::memcpy(memory + i, &word, 4);
    }
    size_t at = 0;
    for (Weight &w : weights) {
        w.tiles = memory + at;
        at += w.bytes;
    }

    constexpr int64_t kInputs = 4096;
    std::vector<int8_t> q(2 * kInputs);
    for (int8_t &x : q) {
        x = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    }
    std::vector<float> scales(2 * kInputs / kStripSuperblock, 0.01f);
    std::vector<int32_t> sums(2 * kInputs / kStripSumInputs, 0);
    const QuantizedRow rows[2] = {{q.data(), scales.data(), sums.data()},
                                  {q.data() + kInputs, scales.data() + kInputs / kStripSuperblock, sums.data() + kInputs / kStripSumInputs}};
    std::vector<float> out0(kInputs), out1(kInputs);
    float *const outs[2] = {out0.data(), out1.data()};
    const StripKernel kernel = strip_kernel(format, level);

    double best_product = 1e9, best_read = 1e9;
    volatile uint64_t sink = 0;
    for (int round = 0; round < kRounds; round++) {
        auto start = std::chrono::steady_clock::now();
        for (int it = 0; it < iterations; it++) {
#pragma omp parallel num_threads(kThreads)
            {
                const int ith = omp_get_thread_num();
                for (const Weight &w : weights) {
                    int64_t begin = 0, end = 0;
                    share(w.rows / kStripRows, ith, begin, end);
                    kernel(w.tiles, w.inputs / kStripSuperblock, begin, end, rows, w.branches, outs);
#pragma omp barrier
                }
            }
        }
        best_product = std::min(best_product, seconds_since(start) / iterations);
        start = std::chrono::steady_clock::now();
        for (int it = 0; it < iterations; it++) {
#pragma omp parallel num_threads(kThreads)
            {
                const int ith = omp_get_thread_num();
                uint64_t sum = 0;
                for (const Weight &w : weights) {
                    sum += read_share(w, ith);
#pragma omp barrier
                }
                sink = sink + sum;
            }
        }
        best_read = std::min(best_read, seconds_since(start) / iterations);
    }
    // The kernels' own speed: each thread over its half of a 1024 x 1024 weight (its share in a
    // product node), held in its L2. On this VM the memory read at 28 to 63 GB/s; where it runs
    // fast, this is what bounds a product.
    const Weight &resident = weights.front();
    const int64_t resident_strips = resident.rows / kStripRows / kThreads, superblocks = resident.inputs / kStripSuperblock;
    double best_resident = 1e9;
    for (int round = 0; round < kRounds; round++) {
        const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(kThreads)
        {
            const int ith = omp_get_thread_num();
            std::vector<float> own0(kInputs), own1(kInputs); // each thread's outputs in its own cache
            float *const own_outs[2] = {own0.data(), own1.data()};
            for (int it = 0; it < 20 * iterations; it++) {
                kernel(resident.tiles, superblocks, ith * resident_strips, (ith + 1) * resident_strips, rows, 2, own_outs);
            }
        }
        best_resident = std::min(best_resident, seconds_since(start) / (20 * iterations));
    }
    std::printf("  %s strips, %s: product %5.2f ms (%4.1f GB/s over %.0f MB), the same bytes read %5.2f ms (%4.1f GB/s): %.2fx; "
                "from L2, %d threads: %.0f ns a tile (%.1f GB/s)\n",
                format_name(format), cpu_kernels_name(level), best_product * 1e3, total / best_product / 1e9,
                total / 1e6, best_read * 1e3, total / best_read / 1e9, best_product / best_read, kThreads, best_resident * 1e9 / (resident_strips * superblocks),
                resident.bytes / best_resident / 1e9);
    std::free(memory);
}

} // namespace

int main(int argc, char **argv) {
    CpuKernels level = cpu_kernels();
    if (argc < 2 || !cpu_kernels_named(argv[1], level) || !cpu_runs(level)) {
        std::fprintf(stderr, "usage: strip_product LEVEL [ITERATIONS]: LEVEL one this CPU runs (its highest: %s)\n", cpu_kernels_name());
        return 2;
    }
    const int iterations = argc > 2 ? std::max(1, std::atoi(argv[2])) : 20;
    run(StripFormat::q4_k, level, iterations);
    run(StripFormat::q5_k, level, iterations);
    run(StripFormat::q6_k, level, iterations);
    run(StripFormat::q8_0, level, iterations);
    return 0;
}
