// What a kernel streaming tiles from memory (the strips' weights, the attention's caches) asks
// for while it computes one tile: the next tile (cpu_simd.h's ask_for_next) and, into L2, one
// further on, a few cache lines at each step of its loop over the tile. Without them the
// streams stall (the strips' product ran 1.5x slower; with the next tile alone asked for, memory
// sat idle whenever the kernel computed). Asked all at once before each tile, their ~70-100
// prefetches filled the line-fill buffers and the kernel waited on them: a Q4_K tile held in L2
// took 75 ns against 65 paced, the strips' product over memory 1.02-1.10x a plain read of its
// bytes against 0.92x, the attention's 1.17-1.26x against 1.04-1.07x (benches/kernels.sh).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include "cpu_simd.h"
#endif

namespace lofi {

class TilesAhead {
  public:
    TilesAhead() = default; // asks for nothing
    TilesAhead(const void *next, size_t next_bytes, const void *far, size_t far_bytes)
        : next_(static_cast<const char *>(next)), next_end_(next_ + next_bytes), far_(static_cast<const char *>(far)),
          far_end_(far_ + far_bytes) {}

    // The `bytes` after `tile` and those `far` tiles on (tiles of one size, one after another).
    static TilesAhead after(const void *tile, size_t bytes, int far) {
        const char *at = static_cast<const char *>(tile);
        return {at + bytes, bytes, at + far * bytes, bytes};
    }

    // Spreads the lines over a kernel's loop of `steps` steps (it asks at each).
    void pace(int64_t steps) {
        const int64_t lines = (std::max(next_end_ - next_, far_end_ - far_) + kLine - 1) / kLine;
        per_step_ = steps > 0 ? (lines + steps - 1) / steps : lines;
    }

    // For a kernel with nothing to compute: everything at once.
    void ask_all() {
        pace(1);
        ask();
    }

    // One step's lines of both tiles.
    void ask() {
#if defined(__x86_64__) || defined(__i386__)
        const char *next = next_, *far = far_; // through locals: GCC stored the members at every line
        for (int64_t i = 0; i < per_step_ && next < next_end_; i++, next += kLine) {
            ask_for_next(next, kLine);
        }
        for (int64_t i = 0; i < per_step_ && far < far_end_; i++, far += kLine) {
            prefetch_to_l2(far, kLine);
        }
        next_ = next, far_ = far;
#endif
    }

  private:
    static constexpr int64_t kLine = 64;
    const char *next_ = nullptr, *next_end_ = nullptr, *far_ = nullptr, *far_end_ = nullptr;
    int64_t per_step_ = 0;
};

} // namespace lofi
