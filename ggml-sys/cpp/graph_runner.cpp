#include "graph_runner.h"

#include <cstdio>
#include <cstdlib>

namespace lofi {

namespace {

// Asked before every node, so GGML's scheduler computes and waits for one node at a time.
bool observe_every_node(ggml_tensor *, bool, void *) { return true; }

} // namespace

GraphRunner::GraphRunner(std::vector<ggml_backend_t> backends, size_t max_nodes)
    : max_nodes_(max_nodes), metadata_bytes_(ggml_tensor_overhead() * max_nodes * 2 + ggml_graph_overhead_custom(max_nodes, false)),
      metadata_(new uint8_t[metadata_bytes_]),
      scheduler_(ggml_backend_sched_new(backends.data(), nullptr, static_cast<int>(backends.size()), max_nodes, false,
                                        /*op_offload =*/false)) {
    // LOFI_GGML_SYNC_NODES=1: one node at a time, each finished before the next starts. Slow;
    // for GPU drivers that fail on GGML's batched submissions (Mesa 22.3's lavapipe, the Vulkan
    // device the GPU-path test runs on, corrupts memory when matrix products are batched).
    if (std::getenv("LOFI_GGML_SYNC_NODES") != nullptr) {
        ggml_backend_sched_set_eval_callback(scheduler_, observe_every_node, nullptr);
    }
    if (std::getenv("LOFI_GGML_NODE_TIMES") != nullptr) {
        node_times_ = std::make_unique<NodeTimes>();
        ggml_backend_sched_set_eval_callback(scheduler_, NodeTimes::observe, node_times_.get());
    }
}

GraphRunner::~GraphRunner() {
    if (node_times_ != nullptr) {
        std::fputs(node_times_->report().c_str(), stderr);
    }
    if (ctx_ != nullptr) {
        ggml_free(ctx_);
    }
    ggml_backend_sched_free(scheduler_);
}

bool GraphRunner::run(const std::function<void(ggml_context *, ggml_cgraph *)> &build, const std::function<void()> &set_inputs) {
    if (ctx_ != nullptr) {
        ggml_free(ctx_);
    }
    ggml_init_params params = {/*mem_size =*/metadata_bytes_, /*mem_buffer =*/metadata_.get(), /*no_alloc =*/true};
    ctx_ = ggml_init(params);
    graph_ = nullptr;
    ggml_cgraph *graph = ggml_new_graph_custom(ctx_, max_nodes_, false);
    build(ctx_, graph);
    graphs_built_++;
    ggml_backend_sched_reset(scheduler_);
    if (!ggml_backend_sched_alloc_graph(scheduler_, graph)) {
        return false;
    }
    graph_ = graph;
    return rerun(set_inputs);
}

bool GraphRunner::rerun(const std::function<void()> &set_inputs) {
    if (graph_ == nullptr) {
        return false;
    }
    set_inputs();
    // The scheduler keeps the graph's placement until it is reset: computing again reuses it.
    return ggml_backend_sched_graph_compute(scheduler_, graph_) == GGML_STATUS_SUCCESS;
}

} // namespace lofi
