// Picks the compute thread count step by step. GGML's worker threads meet at a spinning
// barrier after every graph node; when other programs keep the cores busy (a build, say), a
// worker that lost its core holds the others spinning, and a multi-threaded step runs several
// times slower than on one thread (measured: 209 vs 55 ms per decoder step on 2 loaded cores,
// 34 ms when idle). So the governor times the steps of a loop, runs them on whichever count has
// been faster lately, and times the other count again now and then.
#pragma once

#include <cstdint>
#include <functional>

#include "ggml-backend.h"

namespace lofi {

class ThreadGovernor {
  public:
    ThreadGovernor(ggml_backend_t backend, int threads);
    ~ThreadGovernor(); // leaves the backend on all threads
    ThreadGovernor(const ThreadGovernor &) = delete;
    ThreadGovernor &operator=(const ThreadGovernor &) = delete;

    // Runs one step of the loop on the chosen thread count; returns what the step returns.
    bool run(const std::function<bool()> &step);

  private:
    void use(bool all_threads);

    ggml_backend_t backend_;
    int threads_;
    bool prefer_all_ = true;
    double latest_[2] = {-1.0, -1.0}; // seconds of the latest step on one thread / on all
    int64_t steps_to_probe_ = 3;      // the first step warms up, the second is the reference
    int64_t probe_interval_;
};

} // namespace lofi
