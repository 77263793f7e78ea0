#!/usr/bin/env bash
# Installs system packages the project needs, only those missing.
#   install-deps.sh build   what building the daemon needs (C compiler, ALSA headers)
#   install-deps.sh test    the above plus lame (MP3 cache tests) and alsa-utils
set -euo pipefail
what="${1:-build}"

need=()
command -v cc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
# cpal's ALSA backend links libasound (Linux only).
if [ "$(uname -s)" = Linux ] && ! pkg-config --exists alsa 2>/dev/null; then
  need+=(libasound2-dev)
fi
if [ "$what" = test ]; then
  command -v lame >/dev/null || need+=(lame)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "lofi.nvim: please install: ${need[*]} (no apt-get on this system)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "lofi.nvim: need root or sudo to install: ${need[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "lofi.nvim: installing ${need[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
