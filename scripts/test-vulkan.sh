#!/usr/bin/env bash
# Runs the MusicGen engine's accelerator test (musicgen/tests/parity.rs,
# an_accelerator_matches_transformers) on GGML's Vulkan backend with Mesa's lavapipe, a Vulkan
# device that computes on the CPU: the non-CPU path (weights uploaded to the device, graphs
# split by GGML's scheduler, the frame stage on the CPU) checked on a machine without a GPU.
# Needs glslc, libvulkan-dev, spirv-headers and mesa-vulkan-drivers (install-deps.sh test).
# Builds in the workspace's target dir, on the dependencies `cargo test` built there: GGML with its
# Vulkan shaders (~5 minutes on 2 cores the first time), ggml-sys, musicgen and tokenizers' macros
# (this one-target selection resolves their features otherwise) are built again; GGML's patched
# sources (below) go to target/vulkan.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
target="$root/target/vulkan"
mkdir -p "$target"

# GGML's sources, as ggml-sys/build.rs finds them (llama-cpp-sys-2's package).
manifest="$(cargo metadata --format-version 1 --locked --manifest-path ggml-sys/Cargo.toml |
  python3 -c 'import json, sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "llama-cpp-sys-2"))')"
ggml="$(dirname "$manifest")/llama.cpp/ggml"

# Vulkan headers older than 1.3.261 (Debian 12 has 1.3.239) lack VK_EXT_layer_settings, which
# GGML's Vulkan backend uses only to switch on the validation layer's best-practice checks: for
# those headers, build a copy of GGML without that one setting.
if ! grep -q "LayerSettingEXT" /usr/include/vulkan/vulkan.hpp 2>/dev/null; then
  patched="$target/ggml-src"
  if [ ! -f "$patched/.lofi-patched" ]; then
    rm -rf "$patched"
    cp -r "$ggml" "$patched"
    python3 - "$patched/src/ggml-vulkan/ggml-vulkan.cpp" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
block = re.compile(r"    VkBool32 enable_best_practice = layer_settings;\n.*?vk::InstanceCreateInfo instance_create_info\([^;]*&layer_setting_info\);\n", re.S)
text, n = block.subn("    vk::InstanceCreateInfo instance_create_info(vk::InstanceCreateFlags{}, &app_info, layers, extensions);\n", text)
if n != 1:
    sys.exit("test-vulkan.sh: GGML's Vulkan instance setup changed; update the header patch")
open(path, "w").write(text)
PY
    touch "$patched/.lofi-patched"
  fi
  export LOFI_GGML_SRC="$patched"
fi

# lavapipe is a CPU-type device, which GGML's Vulkan backend lists only when asked by index.
# Debian 12's lavapipe (Mesa 22.3) corrupts memory when GGML batches matrix products into one
# submission (with only copies and attention on the device it passes; one node at a time too),
# so the graphs are computed one node at a time here (LOFI_GGML_SYNC_NODES, graph_runner.cpp).
GGML_VK_VISIBLE_DEVICES=0 LOFI_GGML_SYNC_NODES=1 \
  cargo test --workspace --locked --features musicgen/vulkan --test parity -- --nocapture accelerator model_device
