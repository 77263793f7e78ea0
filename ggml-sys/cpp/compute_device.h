// Which device computes: the CPU, or an accelerator that one of the GGML backends compiled into
// this build (CUDA, Vulkan, Metal) offers.
#pragma once

#include <string>

#include "ggml-backend.h"

namespace lofi {

struct ComputeDevice {
    ggml_backend_dev_t accelerator = nullptr; // nullptr: the CPU
    std::string kind = "cpu";                 // "cpu", "cuda", "vulkan" or "metal"
};

// `wanted` is model.device: "cpu"; "auto" (the first GPU found, else the CPU); or "cuda",
// "vulkan", "metal" (that backend's first device, an error when the build or the machine has none).
bool pick_device(const std::string &wanted, ComputeDevice &out, std::string &error);

// Every accelerator pick_device can choose, as "kind: description" joined by "; ".
std::string describe_accelerators();

} // namespace lofi
