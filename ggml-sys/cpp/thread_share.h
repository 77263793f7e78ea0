// How the custom ops split work among GGML's compute threads.
#pragma once

#include <cstdint>

namespace lofi {

// The share [begin, end) of [0, n) of thread ith of nth: contiguous runs, sizes within one.
inline void thread_share(int64_t n, int ith, int nth, int64_t &begin, int64_t &end) {
    begin = n * ith / nth;
    end = n * (ith + 1) / nth;
}

} // namespace lofi
