// A fixed amount of one kernel's work, repeated: run under qemu-user with an instruction-counting
// plugin (benches/arm_instructions.sh), the difference between two repeat counts is the kernel's
// instructions per repeat. For a CPU the project has no machine of (64-bit ARM) how much work each
// level's kernels ask per byte, not how fast they run.
//
// Usage: instructions strips LEVEL FORMAT REPEATS: a 1024 x 1024 weight in strips (Q4_K, Q5_K, Q6_K
// or Q8_0; 256 tiles) times two input rows; instructions attention REPEATS: int8-int4 attention
// over 1024 cached positions of 32 (head, branch) pairs of head size 64, one thread, at this CPU's
// level or LOFI_CPU_KERNELS's cap.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "cpu_features.h"
#include "kv_kernels.h"
#include "strip_kernels.h"

using namespace lofi;

namespace {

bool format_named(const std::string &name, StripFormat &format) {
    const std::pair<const char *, StripFormat> formats[] = {
        {"Q4_K", StripFormat::q4_k}, {"Q5_K", StripFormat::q5_k}, {"Q6_K", StripFormat::q6_k}, {"Q8_0", StripFormat::q8_0}};
    for (const auto &[known, value] : formats) {
        if (name == known) {
            format = value;
            return true;
        }
    }
    return false;
}

float strips(CpuKernels level, StripFormat format, int repeats) {
    constexpr int64_t kRows = 1024, kInputs = 1024, kSuperblocks = kInputs / kStripSuperblock;
    std::vector<char> tiles(kRows / kStripRows * kSuperblocks * strip_tile_bytes(format));
    std::mt19937 rng(1);
    for (size_t i = 0; i + 4 <= tiles.size(); i += 4) { // random bytes, the scales' halves small and finite
        const uint32_t word = rng() & 0x3f3f3f3fu;
        std::memcpy(tiles.data() + i, &word, 4);
    }
    std::vector<int8_t> q(2 * kInputs);
    for (int8_t &x : q) {
        x = static_cast<int8_t>(static_cast<int>(rng() % 255) - 127);
    }
    std::vector<float> scales(2 * kSuperblocks, 0.01f);
    std::vector<int32_t> sums(2 * kInputs / kStripSumInputs, 0);
    const QuantizedRow rows[2] = {{q.data(), scales.data(), sums.data()},
                                  {q.data() + kInputs, scales.data() + kSuperblocks, sums.data() + kInputs / kStripSumInputs}};
    std::vector<float> out0(kRows), out1(kRows);
    float *const outs[2] = {out0.data(), out1.data()};
    const StripKernel kernel = strip_kernel(format, level);
    for (int r = 0; r < repeats; r++) {
        kernel(tiles.data(), kSuperblocks, 0, kRows / kStripRows, rows, 2, outs);
    }
    return out0[0] + out1[kRows - 1];
}

float attention(int repeats) {
    constexpr int64_t kHeadSize = 64, kPairs = 32, kPositions = 1024;
    const KvLayout layout{{KvElement::int8, KvElement::int4}, kHeadSize, kPairs, kPositions, 1};
    std::vector<char> keys(layout.keys_bytes()), values(layout.values_bytes());
    std::mt19937 rng(1);
    std::normal_distribution<float> normal;
    std::vector<float> key(kHeadSize), value(kHeadSize);
    for (int64_t pair = 0; pair < kPairs; pair++) {
        for (int64_t position = 0; position < kPositions; position++) {
            std::generate(key.begin(), key.end(), [&] { return normal(rng); });
            std::generate(value.begin(), value.end(), [&] { return normal(rng); });
            store_position(layout, keys.data(), values.data(), pair, position, key.data(), value.data());
        }
    }
    std::vector<float> queries(kPairs * kHeadSize), out(queries.size());
    std::generate(queries.begin(), queries.end(), [&] { return normal(rng); });
    for (int r = 0; r < repeats; r++) {
        attend_pairs(layout, keys.data(), values.data(), queries.data(), 0, kPairs, kPositions, 0.125f, out.data());
    }
    return out[0];
}

} // namespace

int main(int argc, char **argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    CpuKernels level = cpu_kernels();
    StripFormat format = StripFormat::q4_k;
    if (mode == "strips" && argc == 5 && cpu_kernels_named(argv[2], level) && cpu_runs(level) && format_named(argv[3], format)) {
        std::printf("%g\n", strips(level, format, std::atoi(argv[4])));
        return 0;
    }
    if (mode == "attention" && argc == 3) {
        std::printf("%s %g\n", cpu_kernels_name(), attention(std::atoi(argv[2])));
        return 0;
    }
    std::fprintf(stderr, "usage: instructions strips LEVEL FORMAT REPEATS | instructions attention REPEATS\n");
    return 2;
}
