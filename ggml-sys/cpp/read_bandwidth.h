// The memory read bandwidth a decoder step can reach: the floor the benchmark sets a step's
// time against (its bytes over this), read from the step's own weights beside each window of
// steps (a VM's bandwidth moves within seconds), and from a buffer of its own once.
//
// Measured as the step's weights and caches are read: their memory, or a buffer larger than the
// caches of any CPU of this kind on 2 MB pages where the kernel gives them (huge_pages.h),
// streamed by `threads` threads a contiguous share each with this CPU's widest loads
// (cpu_features.h).
// A scalar read of 4 KB pages, the benchmark's earlier measure, read ~25 % less (Intel Xeon,
// 2 threads: 21 against 28 GB/s), which put the floor that much too high.
#pragma once

#include <cstddef>
#include <vector>

namespace lofi {

struct ByteRange {
    const void *data;
    size_t bytes;
};

// Bytes per second reading `ranges`, each thread a contiguous share of their bytes (each range's
// whole 128-byte blocks), the best of three passes.
double read_bandwidth(const std::vector<ByteRange> &ranges, int threads);

// The same over a 1 GiB buffer of its own.
double read_bandwidth(int threads);

} // namespace lofi
