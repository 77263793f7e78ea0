// Tensor types, quantization and build information: thin C wrappers over GGML.
#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "compute_device.h"
#include "cpu_backend.h"
#include "errors.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml.h"
#include "conv_tap_sum.h"
#include "cpu_features.h"
#include "elu_kernel.h"
#include "gelu_kernel.h"
#include "lofi_ggml.h"
#include "read_bandwidth.h"
#include "strip_layout.h"
#include "strip_product.h"

namespace {

bool known_type(int type) {
    return type >= 0 && type < GGML_TYPE_COUNT && ggml_get_type_traits(static_cast<ggml_type>(type))->blck_size != 0;
}

// Builds a graph of one product (build creates its operands in ctx and returns the product),
// allocates it on the CPU backend, has fill() set the operands, computes, and copies the
// product to c.
bool compute_on_cpu(int threads, const std::function<ggml_tensor *(ggml_context *)> &build, const std::function<void()> &fill,
                    float *c, char *err, size_t err_len) {
    std::string error;
    ggml_backend_t backend = lofi::start_cpu_backend(threads, error);
    if (backend == nullptr) {
        lofi::set_error(err, err_len, error);
        return false;
    }
    ggml_init_params params = {/*mem_size =*/(2 * lofi::kMaxStripWeights + 8) * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, /*no_alloc =*/true};
    ggml_context *ctx = ggml_init(params);
    ggml_tensor *product = build(ctx);
    ggml_cgraph *graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, product);
    ggml_backend_buffer_t buffer = ggml_backend_alloc_ctx_tensors(ctx, backend);
    bool ok = buffer != nullptr;
    if (ok) {
        fill();
        ok = ggml_backend_graph_compute(backend, graph) == GGML_STATUS_SUCCESS;
        if (ok) {
            ggml_backend_tensor_get(product, c, 0, ggml_nbytes(product));
        }
    }
    if (!ok) {
        lofi::set_error(err, err_len, "GGML could not allocate or compute the graph");
    }
    ggml_backend_buffer_free(buffer);
    ggml_backend_free(backend);
    ggml_free(ctx);
    return ok;
}

} // namespace

extern "C" {

const char *lofi_ggml_type_name(int type) { return known_type(type) ? ggml_type_name(static_cast<ggml_type>(type)) : nullptr; }

int64_t lofi_ggml_block_size(int type) { return known_type(type) ? ggml_blck_size(static_cast<ggml_type>(type)) : 0; }

size_t lofi_ggml_row_size(int type, int64_t n_per_row) {
    return known_type(type) ? ggml_row_size(static_cast<ggml_type>(type), n_per_row) : 0;
}

bool lofi_ggml_type_is_quantized(int type) { return known_type(type) && ggml_is_quantized(static_cast<ggml_type>(type)); }

size_t lofi_ggml_quantize(int type, const float *src, void *dst, int64_t nrows, int64_t n_per_row) {
    if (!known_type(type) || n_per_row % ggml_blck_size(static_cast<ggml_type>(type)) != 0) {
        return 0;
    }
    return ggml_quantize_chunk(static_cast<ggml_type>(type), src, dst, 0, nrows, n_per_row, nullptr);
}

bool lofi_ggml_to_f32(int type, const void *src, float *dst, int64_t n) {
    if (!known_type(type)) {
        return false;
    }
    if (type == GGML_TYPE_F32) {
        std::copy_n(static_cast<const float *>(src), n, dst);
        return true;
    }
    const ggml_type_traits *traits = ggml_get_type_traits(static_cast<ggml_type>(type));
    if (traits->to_float == nullptr || n % traits->blck_size != 0) {
        return false;
    }
    traits->to_float(src, dst, n);
    return true;
}

const char *lofi_ggml_version(void) { return ggml_version(); }

const char *lofi_cpu_kernels(void) { return lofi::cpu_kernels_name(); }

bool lofi_cpu_runs_kernels(const char *name) {
    lofi::CpuKernels level;
    return lofi::cpu_kernels_named(name, level) && lofi::cpu_runs(level);
}

void lofi_cpu_elu(const float *x, float *y, int64_t n) { lofi::elu_values(x, y, n); }

void lofi_cpu_gelu(const float *x, float *y, int64_t n) { lofi::gelu_values(x, y, n); }

double lofi_read_bandwidth(int threads) { return lofi::read_bandwidth(threads); }

void lofi_ggml_cpu_features(char *buf, size_t len) { lofi::set_error(buf, len, lofi::cpu_backend_features()); }

void lofi_ggml_cpu_variant(char *buf, size_t len) { lofi::set_error(buf, len, lofi::describe_cpu_variant()); }

void lofi_ggml_accelerators(char *buf, size_t len) {
    const std::string found = lofi::describe_accelerators();
    lofi::set_error(buf, len, found.empty() ? "none" : found);
}

bool lofi_conv_tap_sum(const float *taps, const float *bias, int64_t out, int64_t length, int64_t kernel, int64_t dilation,
                       int64_t left, int64_t right, float *y, char *err, size_t err_len) {
    if (out < 1 || length < 1 || !lofi::tap_geometry_fits(kernel, dilation, left, right)) {
        lofi::set_error(err, err_len, "conv_tap_sum: sizes out of range");
        return false;
    }
    ggml_tensor *t_taps = nullptr, *t_bias = nullptr;
    auto build = [&](ggml_context *ctx) {
        t_taps = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, out * kernel, length);
        t_bias = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, out);
        return lofi::conv_tap_sum(ctx, t_taps, t_bias, kernel, dilation, left, right);
    };
    auto fill = [&] {
        ggml_backend_tensor_set(t_taps, taps, 0, ggml_nbytes(t_taps));
        ggml_backend_tensor_set(t_bias, bias, 0, ggml_nbytes(t_bias));
    };
    return compute_on_cpu(2, build, fill, y, err, err_len);
}

bool lofi_ggml_mul_mat(int type_a, const void *a, const float *b, int64_t m, int64_t n, int64_t k, float *c,
                       int threads, char *err, size_t err_len) {
    if (!known_type(type_a) || k % ggml_blck_size(static_cast<ggml_type>(type_a)) != 0) {
        lofi::set_error(err, err_len, "unsupported type or row length for mul_mat");
        return false;
    }
    ggml_tensor *ta = nullptr, *tb = nullptr;
    auto build = [&](ggml_context *ctx) {
        ta = ggml_new_tensor_2d(ctx, static_cast<ggml_type>(type_a), k, m);
        tb = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, k, n);
        return ggml_mul_mat(ctx, ta, tb); // [m, n]: c[j][i] = a_i . b_j
    };
    auto fill = [&] {
        ggml_backend_tensor_set(ta, a, 0, ggml_nbytes(ta));
        ggml_backend_tensor_set(tb, b, 0, ggml_nbytes(tb));
    };
    return compute_on_cpu(threads, build, fill, c, err, err_len);
}

bool lofi_strip_mul_mat(const lofi_strip_weight *weights, int count, const float *b, int64_t n, int64_t k, const char *kernels,
                        const lofi_strip_input *input, float *c, int threads, char *err, size_t err_len) {
    lofi::CpuKernels level = lofi::cpu_kernels();
    if (kernels != nullptr && !lofi::cpu_kernels_named(kernels, level)) {
        lofi::set_error(err, err_len, std::string("no CPU kernels are named '") + kernels + "'");
        return false;
    }
    if (!lofi::cpu_runs(level)) {
        lofi::set_error(err, err_len, std::string("the ") + kernels + " kernels do not run here (this CPU: " + lofi::cpu_kernels_name() + ")");
        return false;
    }
    if (count < 1 || count > lofi::kMaxStripWeights) {
        lofi::set_error(err, err_len, "one to " + std::to_string(lofi::kMaxStripWeights) + " weights share a strip product's input");
        return false;
    }
    // The weights, then the up weight where there is one, each with its format and inputs.
    const bool up = input->up.data != nullptr;
    std::vector<lofi_strip_weight> all(weights, weights + count);
    std::vector<int64_t> inputs(count, k);
    if (up) {
        all.push_back(input->up);
        inputs.push_back(input->up_inputs);
    }
    std::vector<lofi::StripFormat> formats(all.size());
    for (size_t w = 0; w < all.size(); w++) {
        if (!known_type(all[w].type) || !lofi::strip_format_for(static_cast<ggml_type>(all[w].type), inputs[w], all[w].rows, formats[w])) {
            lofi::set_error(err, err_len, "a weight in strips is Q4_K, Q5_K, Q6_K or Q8_0, in rows of a multiple of 256 values, a multiple of 16 of them");
            return false;
        }
    }
    if (up && input->up.rows != k) { // k, a multiple of 256 by the weights' formats, fits strip_product_gelu
        lofi::set_error(err, err_len, "the up weight's rows are the products' inputs, a multiple of 256");
        return false;
    }
    std::vector<ggml_tensor *> strips(all.size()); // the weights', then the up weight's
    ggml_tensor *tb = nullptr, *tw = nullptr, *tbias = nullptr;
    const bool normed = input->norm_w != nullptr && input->norm_b != nullptr;
    auto build = [&](ggml_context *ctx) {
        for (size_t w = 0; w < all.size(); w++) {
            strips[w] = lofi::new_strip_tensor(ctx, formats[w], inputs[w], all[w].rows);
        }
        tb = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, inputs.back(), n);
        ggml_tensor *quantized = nullptr;
        if (up) {
            quantized = lofi::strip_product_gelu(ctx, strips.back(), lofi::strip_input(ctx, tb), level);
        } else if (normed) {
            tw = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, k);
            tbias = ggml_new_tensor_1d(ctx, GGML_TYPE_F32, k);
            quantized = lofi::strip_input_normed(ctx, tb, tw, tbias, input->norm_epsilon);
        } else {
            quantized = input->gelu ? lofi::strip_input_gelu(ctx, tb) : lofi::strip_input(ctx, tb);
        }
        // One weight: the decoder's single product; more: its shared node, whose views lie one
        // after the other in it.
        return count == 1 ? lofi::strip_product(ctx, strips[0], quantized, nullptr, level)
                          : lofi::strip_products(ctx, {strips.begin(), strips.begin() + count}, quantized, level)[0]->view_src;
    };
    auto fill = [&] {
        for (size_t w = 0; w < all.size(); w++) {
            std::vector<char> laid_out(ggml_nbytes(strips[w]));
            lofi::lay_out_strips(formats[w], inputs[w], all[w].rows, all[w].data, laid_out.data());
            ggml_backend_tensor_set(strips[w], laid_out.data(), 0, laid_out.size());
        }
        ggml_backend_tensor_set(tb, b, 0, ggml_nbytes(tb));
        if (normed) {
            ggml_backend_tensor_set(tw, input->norm_w, 0, ggml_nbytes(tw));
            ggml_backend_tensor_set(tbias, input->norm_b, 0, ggml_nbytes(tbias));
        }
    };
    return compute_on_cpu(threads, build, fill, c, err, err_len);
}

} // extern "C"
