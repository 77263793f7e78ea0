#!/usr/bin/env bash
# Installs lofi-daemon into ./bin (a release binary when one can be downloaded, otherwise
# built from source), installs a local model with --model, verifies, reports optional
# dependencies. Safe to run again (lazy.nvim: build = "./install.sh").
#
#   ./install.sh                  install the daemon
#   ./install.sh --from-source    skip the download, build with cargo
#   ./install.sh --model FILE     also install a GGUF model file
#
# Environment: LOFI_VERSION (default latest), LOFI_RELEASE_URL (binary tarball URL),
# LOFI_MODEL_URL (model URL), LOFI_QUANTIZATION (default Q4_K_M).
set -euo pipefail

REPO="${LOFI_REPO:-lofi-nvim/lofi.nvim}"
VERSION="${LOFI_VERSION:-latest}"
QUANT="${LOFI_QUANTIZATION:-Q4_K_M}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$SCRIPT_DIR/bin"
DAEMON="$BIN_DIR/lofi-daemon"
DATA_DIR="${XDG_DATA_HOME:-$HOME/.local/share}/nvim/lofi"
MODELS_DIR="$DATA_DIR/models"

from_source=0
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from-source) from_source=1 ;;
    --model) model="${2:?--model needs a file}"; shift ;;
    --model=*) model="${1#--model=}" ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

say() { echo "lofi.nvim: $*"; }

OS="$(uname -s | tr '[:upper:]' '[:lower:]')"
ARCH="$(uname -m)"
case "$ARCH" in
  x86_64|amd64) ARCH="x86_64" ;;
  aarch64|arm64) ARCH="aarch64" ;;
  *) echo "install.sh: unsupported architecture $ARCH" >&2; exit 1 ;;
esac
case "$OS" in
  linux|darwin) ;;
  *) echo "install.sh: unsupported OS $OS" >&2; exit 1 ;;
esac
say "installing for $OS-$ARCH"
mkdir -p "$BIN_DIR" "$MODELS_DIR"

download_release() {
  command -v curl >/dev/null || return 1
  local url
  if [ -n "${LOFI_RELEASE_URL:-}" ]; then
    url="$LOFI_RELEASE_URL"
  elif [ "$VERSION" = latest ]; then
    url="https://github.com/$REPO/releases/latest/download/lofi-daemon-$OS-$ARCH.tar.gz"
  else
    url="https://github.com/$REPO/releases/download/$VERSION/lofi-daemon-$OS-$ARCH.tar.gz"
  fi
  say "downloading $url"
  local tmp
  tmp="$(mktemp -d)"
  if curl -fsSL --connect-timeout 5 --max-time 120 "$url" -o "$tmp/daemon.tar.gz" \
    && tar -xzf "$tmp/daemon.tar.gz" -C "$tmp" \
    && [ -f "$tmp/lofi-daemon" ] && "$tmp/lofi-daemon" --version >/dev/null 2>&1; then
    install -m 755 "$tmp/lofi-daemon" "$DAEMON"
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  return 1
}

build_from_source() {
  if ! command -v cargo >/dev/null; then
    echo "install.sh: no release binary could be downloaded and cargo is not installed; install Rust (https://rustup.rs) and run ./install.sh again" >&2
    exit 1
  fi
  "$SCRIPT_DIR/scripts/install-deps.sh" build
  say "building lofi-daemon from source (cargo build --release, a few minutes the first time)"
  (cd "$SCRIPT_DIR" && cargo build --release --locked -p lofi-daemon --bin lofi-daemon --quiet)
  install -m 755 "$SCRIPT_DIR/target/release/lofi-daemon" "$DAEMON"
}

if [ "$from_source" = 1 ] || ! download_release; then
  [ "$from_source" = 1 ] || say "no release binary available; building from source instead"
  build_from_source
fi
"$DAEMON" --version >/dev/null || { echo "install.sh: $DAEMON does not run" >&2; exit 1; }
say "daemon: $DAEMON ($("$DAEMON" --version))"

# Daemons that can check a GGUF understand --verify-model; only those whose backends include
# ggml can generate with one, so only they get weights downloaded.
has_verify=0 has_ggml=0
"$DAEMON" --help 2>/dev/null | grep -q -- '--verify-model' && has_verify=1
"$DAEMON" --version --verbose 2>/dev/null | grep -q '^backends:.*ggml' && has_ggml=1
model_path="$MODELS_DIR/musicgen-small-$QUANT.gguf"
if [ -n "$model" ]; then
  [ -f "$model" ] || { echo "install.sh: model file $model does not exist" >&2; exit 1; }
  install -m 644 "$model" "$MODELS_DIR/$(basename "$model")"
  model_path="$MODELS_DIR/$(basename "$model")"
  say "model installed: $model_path"
  default_path="$MODELS_DIR/musicgen-small-$QUANT.gguf"
  [ "$model_path" = "$default_path" ] \
    || say "the plugin loads $default_path by default: set model.weights_path = \"$model_path\" in setup() to use this one"
elif [ "$has_ggml" = 1 ] && [ ! -f "$model_path" ]; then
  url="${LOFI_MODEL_URL:-https://huggingface.co/lofi-nvim/musicgen-small-gguf/resolve/main/musicgen-small-$QUANT.gguf}"
  say "downloading model weights (~200 MB) from $url"
  curl -fL --connect-timeout 5 --progress-bar "$url" -o "$model_path.part" && mv "$model_path.part" "$model_path" \
    || { rm -f "$model_path.part"; say "model download failed"; }
fi
if [ -f "$model_path" ] && [ "$has_verify" = 1 ]; then
  "$DAEMON" --verify-model "$model_path" || { echo "install.sh: model verification failed: $model_path" >&2; exit 1; }
  [ "$has_ggml" = 1 ] || say "this daemon cannot generate with a model yet (no ggml backend); the procedural backend will be used"
elif [ -f "$model_path" ]; then
  say "this daemon cannot verify or use $model_path; the procedural backend will be used"
else
  say "no model installed: lofi.nvim uses the procedural backend (instant, offline, no weights needed)"
fi

echo
say "optional dependencies:"
command -v lame >/dev/null && echo "  ✓ lame (MP3 cache)" || echo "  ✗ lame not found (cache stays WAV; MP3 saves ~85 % space)"
command -v sox >/dev/null && echo "  ✓ sox" || echo "  ✗ sox not found (optional: audio conversion and inspection)"
echo
say "installed. Try: $DAEMON generate \"lofi hip hop, rainy night\" --out lofi.wav"
