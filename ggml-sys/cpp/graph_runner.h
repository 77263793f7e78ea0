// Builds a GGML graph in a scratch context, allocates its intermediates and computes it on the
// model's backends: the load -> build graph -> compute step every model part shares. GGML's
// scheduler puts each node on the first backend that holds its weights and can compute it (an
// accelerator, when there is one), the rest on the CPU, and copies tensors between them.
// LOFI_GGML_NODE_TIMES=1 times its nodes one by one (node_times.h) and prints the table to
// stderr when the runner ends.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "node_times.h"

namespace lofi {

class GraphRunner {
  public:
    // `backends`: most preferred first, the CPU last (the scheduler keeps its own copy).
    explicit GraphRunner(std::vector<ggml_backend_t> backends, size_t max_nodes = 8192);
    ~GraphRunner();
    GraphRunner(const GraphRunner &) = delete;
    GraphRunner &operator=(const GraphRunner &) = delete;

    // build(ctx, graph) adds the nodes; set_inputs() runs after allocation to fill input tensors.
    bool run(const std::function<void(ggml_context *, ggml_cgraph *)> &build, const std::function<void()> &set_inputs);

    // Computes the graph the last run() built again, in the same memory, after set_inputs():
    // for a graph whose nodes read what changes between runs from their inputs or userdata.
    // False when the last run() failed or there was none.
    bool rerun(const std::function<void()> &set_inputs);

    // How many graphs run() has built: tells whether the last one is still the one a caller built.
    uint64_t graphs_built() const { return graphs_built_; }

  private:
    size_t max_nodes_;
    // The graph's metadata, allocated once: a decoder step's is ~6 MB, and a fresh allocation
    // per step (a new mapping, given the daemon's fixed mmap threshold) cost ~3 ms a step. Left
    // unfilled: only the part a graph uses is touched (a step's ~520 nodes take ~0.4 MB; a
    // zero-filled vector made all of it resident, ~13 MB while a track streams).
    size_t metadata_bytes_;
    std::unique_ptr<uint8_t[]> metadata_;
    ggml_backend_sched_t scheduler_;
    ggml_context *ctx_ = nullptr;
    ggml_cgraph *graph_ = nullptr; // the last run()'s, when it was placed
    uint64_t graphs_built_ = 0;
    std::unique_ptr<NodeTimes> node_times_; // LOFI_GGML_NODE_TIMES: printed to stderr when the runner ends
};

// An input tensor: named, marked as input so the allocator gives it its own memory.
inline ggml_tensor *graph_input(ggml_context *ctx, ggml_type type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
    ggml_tensor *t = ggml_new_tensor_3d(ctx, type, ne0, ne1, ne2);
    ggml_set_input(t);
    return t;
}

} // namespace lofi
