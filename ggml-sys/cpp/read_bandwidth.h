// The memory read bandwidth a decoder step can reach: the floor the benchmark sets a step's
// time against (its bytes over this).
//
// Measured as the step's weights and caches are read: a buffer larger than the caches of any
// CPU of this kind, on 2 MB pages where the kernel gives them (huge_pages.h), streamed by
// `threads` threads a contiguous share each with this CPU's widest loads (cpu_features.h).
// A scalar read of 4 KB pages, the benchmark's earlier measure, read ~25 % less (Intel Xeon,
// 2 threads: 21 against 28 GB/s), which put the floor that much too high.
#pragma once

namespace lofi {

// Bytes per second, the best of three passes over 1 GiB.
double read_bandwidth(int threads);

} // namespace lofi
