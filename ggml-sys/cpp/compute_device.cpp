#include "compute_device.h"

#include <array>
#include <utility>

namespace lofi {

namespace {

// model.device's names for GGML's registered backends.
constexpr std::array<std::pair<const char *, const char *>, 3> kBackends = {{
    {"cuda", "CUDA"},
    {"vulkan", "Vulkan"},
    {"metal", "MTL"},
}};

const char *kind_of(ggml_backend_dev_t device) {
    const std::string reg = ggml_backend_reg_name(ggml_backend_dev_backend_reg(device));
    for (const auto &[kind, name] : kBackends) {
        if (reg == name) {
            return kind;
        }
    }
    return nullptr;
}

// The first device of a known accelerator backend with this type.
ggml_backend_dev_t first_of_type(enum ggml_backend_dev_type type) {
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t device = ggml_backend_dev_get(i);
        if (ggml_backend_dev_type(device) == type && kind_of(device) != nullptr) {
            return device;
        }
    }
    return nullptr;
}

} // namespace

std::string describe_accelerators() {
    std::string out;
    for (size_t i = 0; i < ggml_backend_dev_count(); i++) {
        ggml_backend_dev_t device = ggml_backend_dev_get(i);
        if (const char *kind = kind_of(device)) {
            out += (out.empty() ? "" : "; ") + std::string(kind) + ": " + ggml_backend_dev_description(device);
        }
    }
    return out;
}

bool pick_device(const std::string &wanted, ComputeDevice &out, std::string &error) {
    out = ComputeDevice{};
    if (wanted == "cpu") {
        return true;
    }
    if (wanted == "auto") {
        // A discrete GPU first; an integrated one shares the CPU's memory but still computes faster.
        out.accelerator = first_of_type(GGML_BACKEND_DEVICE_TYPE_GPU);
        if (out.accelerator == nullptr) {
            out.accelerator = first_of_type(GGML_BACKEND_DEVICE_TYPE_IGPU);
        }
        if (out.accelerator != nullptr) {
            out.kind = kind_of(out.accelerator);
        }
        return true;
    }
    for (const auto &[kind, name] : kBackends) {
        if (wanted != kind) {
            continue;
        }
        ggml_backend_reg_t reg = ggml_backend_reg_by_name(name);
        if (reg == nullptr) {
            error = "device \"" + wanted + "\" is not in this build (rebuild lofi-daemon with --features " + wanted + ")";
            return false;
        }
        if (ggml_backend_reg_dev_count(reg) == 0) {
            error = "device \"" + wanted + "\": this build has " + name + " but found no " + name + " device on this machine";
            return false;
        }
        out.accelerator = ggml_backend_reg_dev_get(reg, 0);
        out.kind = kind;
        return true;
    }
    error = "unknown device \"" + wanted + "\" (expected auto, cpu, cuda, vulkan or metal)";
    return false;
}

} // namespace lofi
