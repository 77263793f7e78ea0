// LOFI_GGML_NODE_TIMES=1: where a graph's time goes, on any host (no performance counters
// needed). The scheduler then computes each node on its own and waits for it, and this table adds
// up the wall time of each kind of node: its operation (our custom ops by the name they are
// given), its type and its sources' types and its shape. Each node computed alone also pays
// the start of the CPU backend's threads (~0.5 us for a node of one task, a few us for one of
// several on the 2-vCPU VMs): the figures tell shares and rates, and their total runs above a
// normal run's.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "ggml.h"

namespace lofi {

class NodeTimes {
  public:
    // The scheduler's eval callback (user_data: a NodeTimes): asked before each node (`ask`),
    // told after it is computed.
    static bool observe(ggml_tensor *node, bool ask, void *user_data);

    // The kinds of node by their total time, most first, `rows` of them: total, count, time per
    // node, share, kind. Empty when no node was timed.
    std::string report(size_t rows = 30) const;

  private:
    struct Kind {
        double seconds = 0;
        uint64_t nodes = 0;
    };
    std::chrono::steady_clock::time_point started_;
    std::map<std::string, Kind> kinds_;
};

// A node's kind as the table names it, e.g. "strip product f32 <- i8,i8 [6144,1]".
std::string node_kind(const ggml_tensor *node);

} // namespace lofi
