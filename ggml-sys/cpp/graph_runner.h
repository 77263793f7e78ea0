// Builds a GGML graph in a scratch context, allocates its intermediates and computes it on the
// model's backend: the load -> build graph -> compute step every model part shares.
#pragma once

#include <functional>

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"

namespace lofi {

class GraphRunner {
  public:
    explicit GraphRunner(ggml_backend_t backend, size_t max_nodes = 8192);
    ~GraphRunner();
    GraphRunner(const GraphRunner &) = delete;
    GraphRunner &operator=(const GraphRunner &) = delete;

    // build(ctx, graph) adds the nodes; set_inputs() runs after allocation to fill input tensors.
    bool run(const std::function<void(ggml_context *, ggml_cgraph *)> &build, const std::function<void()> &set_inputs);

  private:
    ggml_backend_t backend_;
    size_t max_nodes_;
    ggml_gallocr_t allocator_;
    ggml_context *ctx_ = nullptr;
};

// An input tensor: named, marked as input so the allocator gives it its own memory.
inline ggml_tensor *graph_input(ggml_context *ctx, ggml_type type, int64_t ne0, int64_t ne1 = 1, int64_t ne2 = 1) {
    ggml_tensor *t = ggml_new_tensor_3d(ctx, type, ne0, ne1, ne2);
    ggml_set_input(t);
    return t;
}

} // namespace lofi
