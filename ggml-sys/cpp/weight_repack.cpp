#include "weight_repack.h"

#include <cstring>

#include "weight_copies.h"

namespace lofi {

namespace {

ggml_backend_buffer_type_t find_repack_type(ggml_backend_dev_t cpu) {
    auto get_extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
        ggml_backend_reg_get_proc_address(ggml_backend_dev_backend_reg(cpu), "ggml_backend_dev_get_extra_bufts"));
    if (get_extra == nullptr) {
        return nullptr;
    }
    for (ggml_backend_buffer_type_t *buft = get_extra(cpu); buft != nullptr && *buft != nullptr; buft++) {
        if (std::strcmp(ggml_backend_buft_name(*buft), "CPU_REPACK") == 0) {
            return *buft;
        }
    }
    return nullptr;
}

// Asks the CPU device whether a product with this weight in a buffer of `buft` has a kernel, as
// llama.cpp does: a dummy buffer of that type and a product node that is never computed.
bool supported_in(ggml_backend_dev_t cpu, ggml_backend_buffer_t dummy, ggml_tensor *weight) {
    ggml_init_params params = {2 * ggml_tensor_overhead(), nullptr, true};
    ggml_context *ctx = ggml_init(params);
    ggml_tensor *input = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, weight->ne[0], 2);
    ggml_tensor *product = ggml_mul_mat(ctx, weight, input);
    ggml_backend_buffer_t own = weight->buffer;
    weight->buffer = dummy;
    const bool supported = ggml_backend_dev_supports_op(cpu, product);
    weight->buffer = own;
    ggml_free(ctx);
    return supported;
}

} // namespace

ggml_backend_buffer_t repack_weights(const std::vector<ggml_tensor *> &matmul_weights,
                                     const std::function<const void *(const ggml_tensor *)> &source) {
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    ggml_backend_buffer_type_t buft = cpu == nullptr ? nullptr : find_repack_type(cpu);
    if (buft == nullptr) {
        return nullptr;
    }
    ggml_backend_buffer_t dummy = ggml_backend_buft_alloc_buffer(buft, 0);
    std::vector<ggml_tensor *> chosen;
    for (ggml_tensor *weight : matmul_weights) {
        if (weight != nullptr && supported_in(cpu, dummy, weight)) {
            chosen.push_back(weight);
        }
    }
    ggml_backend_buffer_free(dummy);
    return chosen.empty() ? nullptr : copy_weights(buft, chosen, source); // the copy repacks
}

} // namespace lofi
