#!/usr/bin/env bash
# Installs lofi-daemon into ./bin (a release binary when one can be downloaded, otherwise
# built from source), installs a local model with --model, verifies, reports optional
# dependencies. Safe to run again (lazy.nvim: build = "./install.sh").
#
#   ./install.sh                       install the daemon
#   ./install.sh --from-source         skip the download, build with cargo
#   ./install.sh --model FILE          also install a GGUF model file
#   ./install.sh --model musicgen-small   also install MusicGen from the official checkpoint
#                                      (musicgen-small|-medium|-large, or a Hugging Face
#                                      repository id): a prebuilt GGUF from LOFI_MODEL_URL
#                                      when set, else downloaded, converted, quantized and
#                                      verified here (Python venv under the data directory)
#   --quantization Q4_K_M|Q5_K_M|Q8_0|F16   (default Q4_K_M)
#   --model-only                       install the model alone with the daemon already there
#                                      (what :Lofi model install runs)
#
# Environment: LOFI_VERSION (default latest), LOFI_RELEASE_URL (binary tarball URL),
# LOFI_MODEL_URL (prebuilt GGUF URL), LOFI_QUANTIZATION, HF_ENDPOINT / HF_HOME (Hugging Face),
# LOFI_DAEMON (the daemon to convert and verify with; default ./bin/lofi-daemon),
# LOFI_DATA_DIR (default $XDG_DATA_HOME/nvim/lofi: models/ and the converter's venv).
set -euo pipefail

REPO="${LOFI_REPO:-lofi-nvim/lofi.nvim}"
VERSION="${LOFI_VERSION:-latest}"
QUANT="${LOFI_QUANTIZATION:-Q4_K_M}"
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BIN_DIR="$SCRIPT_DIR/bin"
DAEMON="${LOFI_DAEMON:-$BIN_DIR/lofi-daemon}"
DATA_DIR="${LOFI_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/nvim/lofi}"
MODELS_DIR="$DATA_DIR/models"

from_source=0
model_only=0
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --from-source) from_source=1 ;;
    --model-only) model_only=1 ;;
    --model) model="${2:?--model needs a file}"; shift ;;
    --model=*) model="${1#--model=}" ;;
    --quantization) QUANT="${2:?--quantization needs a type}"; shift ;;
    --quantization=*) QUANT="${1#--quantization=}" ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
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
[ "$model_only" = 0 ] || [ -n "$model" ] || { echo "install.sh: --model-only needs --model" >&2; exit 2; }
[ "$model_only" = 1 ] || say "installing for $OS-$ARCH"
mkdir -p "$MODELS_DIR"

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
    # Linux releases carry GGML's libraries and a CPU module per instruction-set variant:
    # beside the daemon, replacing an earlier release's (a stale module would be loaded).
    local daemon_dir
    daemon_dir="$(dirname "$DAEMON")"
    rm -f "$daemon_dir"/libggml*.so*
    for lib in "$tmp"/libggml*.so*; do
      [ ! -e "$lib" ] || install -m 644 "$lib" "$daemon_dir/"
    done
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

if [ "$model_only" = 1 ]; then
  "$DAEMON" --version >/dev/null 2>&1 \
    || { echo "install.sh: $DAEMON does not run; run ./install.sh without --model-only first" >&2; exit 1; }
else
  mkdir -p "$BIN_DIR"
  if [ "$from_source" = 1 ] || ! download_release; then
    [ "$from_source" = 1 ] || say "no release binary available; building from source instead"
    build_from_source
  fi
  "$DAEMON" --version >/dev/null || { echo "install.sh: $DAEMON does not run" >&2; exit 1; }
  say "daemon: $DAEMON ($("$DAEMON" --version))"
fi

# Daemons that can check a GGUF understand --verify-model; only those whose backends include
# ggml can generate with one, so only they get weights downloaded.
has_verify=0 has_ggml=0
"$DAEMON" --help 2>/dev/null | grep -q -- '--verify-model' && has_verify=1
"$DAEMON" --version --verbose 2>/dev/null | grep -q '^backends:.*ggml' && has_ggml=1
case "$QUANT" in
  Q4_K_M|Q5_K_M|Q8_0|F16) ;;
  *) echo "install.sh: unknown quantization $QUANT (Q4_K_M, Q5_K_M, Q8_0 or F16)" >&2; exit 2 ;;
esac
model_path="$MODELS_DIR/musicgen-small-$QUANT.gguf"
default_path="$model_path"

# The one line a failed conversion deserves, from the converter's last words.
explain_failure() { # repo log
  local repo="$1" log="$2"
  if grep -qiE "no space left" "$log"; then
    echo "install.sh: the disk is full; free some space under $DATA_DIR and run ./install.sh again (it resumes)"
  elif grep -qiE "GatedRepo|401 Client Error|403 Client Error" "$log"; then
    echo "install.sh: $repo is gated on Hugging Face: accept its licence there and log in (huggingface-cli login)"
  elif grep -qiE "RepositoryNotFound|404 Client Error" "$log"; then
    echo "install.sh: Hugging Face has no repository $repo (renamed or private?)"
  elif grep -qiE "no spiece.model" "$log"; then
    echo "install.sh: $repo has no spiece.model (the T5 tokenizer), so it cannot be converted"
  elif grep -qiE "LocalEntryNotFound|ConnectionError|Max retries|Failed to resolve|Connection refused|offline" "$log"; then
    echo "install.sh: cannot reach Hugging Face (${HF_ENDPOINT:-https://huggingface.co}): no network? $repo was not installed"
  else
    echo "install.sh: converting $repo failed: $(grep -v '^\s*$' "$log" | tail -n 1)"
  fi
}

# An official name or a repository id: a prebuilt GGUF, else a local conversion.
install_from_hub() {
  local repo="$1" name="${1##*/}" started=$SECONDS
  local out="$MODELS_DIR/$name-$QUANT.gguf" work="$DATA_DIR/convert-$name"
  say "the official MusicGen weights are licensed CC-BY-NC 4.0 (non-commercial use only): https://huggingface.co/$repo"
  if [ -n "${LOFI_MODEL_URL:-}" ]; then
    say "downloading the prebuilt model from $LOFI_MODEL_URL"
    # -C -: an interrupted download resumes; the file is only renamed into place when whole.
    curl -fL -C - --connect-timeout 5 --progress-bar "$LOFI_MODEL_URL" -o "$out.part" && mv "$out.part" "$out" \
      || { echo "install.sh: downloading $LOFI_MODEL_URL failed (run again to resume)" >&2; exit 1; }
  else
    local venv="$DATA_DIR/converter-venv"
    if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import huggingface_hub, gguf, numpy, safetensors, sentencepiece" 2>/dev/null; then
      say "preparing the converter (a Python venv at $venv, no torch)"
      command -v python3 >/dev/null && python3 -m venv "$venv" >/dev/null 2>&1 \
        || { echo "install.sh: converting a model needs Python 3 with venv (Debian/Ubuntu: apt install python3-venv)" >&2; exit 1; }
      "$venv/bin/pip" install -q --disable-pip-version-check \
        -r "$SCRIPT_DIR/scripts/requirements-convert.txt" "huggingface_hub==0.36.0" \
        || { echo "install.sh: cannot install the converter's packages into $venv (no network to PyPI?)" >&2; exit 1; }
    fi
    mkdir -p "$work"
    say "downloading $repo (resumes if interrupted) and converting it"
    if ! "$venv/bin/python" "$SCRIPT_DIR/scripts/convert_musicgen_to_gguf.py" --hf-id "$repo" --name "$name" \
      --outtype f32 --out "$work/f32.gguf" >"$work/convert.log" 2>&1; then
      explain_failure "$repo" "$work/convert.log" >&2
      rm -rf "$work" # the download stays in the Hugging Face cache: a rerun resumes from it
      exit 1
    fi
    local qtype
    qtype="$(echo "$QUANT" | tr '[:upper:]' '[:lower:]')"
    say "quantizing to $QUANT"
    "$DAEMON" quantize "$work/f32.gguf" "$work/model.gguf" "$qtype" >/dev/null \
      || { echo "install.sh: quantizing $repo to $QUANT failed" >&2; exit 1; }
    "$DAEMON" --verify-model "$work/model.gguf" >/dev/null \
      || { echo "install.sh: the converted $repo does not pass --verify-model" >&2; exit 1; }
    mv "$work/model.gguf" "$out"
    rm -rf "$work"
  fi
  model_path="$out"
  say "model installed: $out ($(du -h "$out" | cut -f1), $((SECONDS - started)) s)"
}

if [ -n "$model" ] && [ -f "$model" ]; then
  install -m 644 "$model" "$MODELS_DIR/$(basename "$model")"
  model_path="$MODELS_DIR/$(basename "$model")"
  say "model installed: $model_path"
elif [ -n "$model" ]; then
  case "$model" in
    */*) install_from_hub "$model" ;;
    musicgen-small|musicgen-medium|musicgen-large|musicgen-stereo-small|musicgen-stereo-medium|musicgen-stereo-large)
      install_from_hub "facebook/$model" ;;
    musicgen-melody*) echo "install.sh: $model needs melody conditioning, which lofi.nvim does not support" >&2; exit 1 ;;
    *) echo "install.sh: --model takes a GGUF file, an official name (musicgen-small, -medium, -large) or a Hugging Face repository id; $model is none" >&2; exit 1 ;;
  esac
elif [ "$has_ggml" = 1 ] && [ ! -f "$model_path" ] && [ -n "${LOFI_MODEL_URL:-}" ]; then
  install_from_hub "facebook/musicgen-small"
fi
[ "$model_path" = "$default_path" ] || [ ! -f "$model_path" ] \
  || say "the plugin loads $default_path by default: set model.weights_path = \"$model_path\" in setup() to use this one"
if [ -f "$model_path" ] && [ "$has_verify" = 1 ]; then
  "$DAEMON" --verify-model "$model_path" || { echo "install.sh: model verification failed: $model_path" >&2; exit 1; }
  [ "$has_ggml" = 1 ] || say "this daemon cannot generate with a model yet (no ggml backend); the procedural backend will be used"
  [ "$model_only" = 0 ] || exit 0
elif [ -f "$model_path" ]; then
  say "this daemon cannot verify or use $model_path; the procedural backend will be used"
else
  say "no model installed: lofi.nvim uses the procedural backend (instant, offline, no weights needed); ./install.sh --model musicgen-small installs MusicGen"
fi

echo
say "optional dependencies:"
command -v lame >/dev/null && echo "  ✓ lame (MP3 cache)" || echo "  ✗ lame not found (cache stays WAV; MP3 saves ~85 % space)"
command -v sox >/dev/null && echo "  ✓ sox" || echo "  ✗ sox not found (optional: audio conversion and inspection)"
echo
say "installed. Try: $DAEMON generate \"lofi hip hop, rainy night\" --out lofi.wav"
