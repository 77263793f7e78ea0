#include "graph_runner.h"

namespace lofi {

GraphRunner::GraphRunner(ggml_backend_t backend, size_t max_nodes)
    : backend_(backend), max_nodes_(max_nodes), allocator_(ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend))) {}

GraphRunner::~GraphRunner() {
    if (ctx_ != nullptr) {
        ggml_free(ctx_);
    }
    ggml_gallocr_free(allocator_);
}

bool GraphRunner::run(const std::function<void(ggml_context *, ggml_cgraph *)> &build, const std::function<void()> &set_inputs) {
    if (ctx_ != nullptr) {
        ggml_free(ctx_);
    }
    ggml_init_params params = {/*mem_size =*/ggml_tensor_overhead() * max_nodes_ * 2 + ggml_graph_overhead_custom(max_nodes_, false),
                               /*mem_buffer =*/nullptr, /*no_alloc =*/true};
    ctx_ = ggml_init(params);
    ggml_cgraph *graph = ggml_new_graph_custom(ctx_, max_nodes_, false);
    build(ctx_, graph);
    if (!ggml_gallocr_alloc_graph(allocator_, graph)) {
        return false;
    }
    set_inputs();
    return ggml_backend_graph_compute(backend_, graph) == GGML_STATUS_SUCCESS;
}

} // namespace lofi
