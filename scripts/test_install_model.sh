#!/usr/bin/env bash
# install.sh --model <Hugging Face repository id> for real, without network: a Hugging Face
# cache holding the fixture checkpoint (HF_HUB_OFFLINE=1, the layout huggingface_hub reads), and
# a release tarball of the daemon already built (LOFI_RELEASE_URL, so nothing compiles). The
# converter's venv is created as a user's would be (pinned packages from PyPI).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
daemon="$PWD/${LOFI_DAEMON_BIN:-target/debug/lofi-daemon}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
fail() { echo "test_install_model: $*" >&2; exit 1; }

# The plugin as a user has it: install.sh and its scripts (./bin is the copy's).
mkdir -p "$tmp/plugin" "$tmp/release" "$tmp/home"
cp install.sh "$tmp/plugin/" && cp -r scripts "$tmp/plugin/"
strip -o "$tmp/release/lofi-daemon" "$daemon"
tar -czf "$tmp/daemon.tar.gz" -C "$tmp/release" lofi-daemon

# A Hugging Face cache: models--<org>--<name>/{refs/main, snapshots/<commit>/...}.
cache_repo() { # repo-name source-dir [files to leave out]
  local dir="$tmp/hf/hub/models--lofi-test--$1" commit=0123456789abcdef0123456789abcdef01234567
  mkdir -p "$dir/refs" "$dir/snapshots/$commit"
  printf %s "$commit" >"$dir/refs/main"
  cp "$2"/* "$dir/snapshots/$commit/"
  [ -z "${3:-}" ] || rm -f "$dir/snapshots/$commit/$3"
}
cache_repo musicgen-tiny tests/fixtures/musicgen-tiny/hf
printf -- '---\nlicense: cc-by-nc-4.0\ntags:\n- musicgen\n---\n# a model card\n' \
  >"$tmp/hf/hub/models--lofi-test--musicgen-tiny/snapshots/0123456789abcdef0123456789abcdef01234567/README.md"
cache_repo no-tokenizer tests/fixtures/musicgen-tiny/hf spiece.model

run_install() { # [VAR=value ...] -- install.sh arguments
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  env HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" HF_HOME="$tmp/hf" \
    LOFI_RELEASE_URL="file://$tmp/daemon.tar.gz" "${vars[@]}" bash "$tmp/plugin/install.sh" "$@"
}
models="$tmp/data/nvim/lofi/models"

echo "== install.sh --model lofi-test/musicgen-tiny --quantization Q8_0 (offline, from the HF cache)"
run_install HF_HUB_OFFLINE=1 -- --model lofi-test/musicgen-tiny --quantization Q8_0 | tee "$tmp/transcript" \
  || fail "the install failed"
[ -f "$models/musicgen-tiny-Q8_0.gguf" ] || fail "no model at $models/musicgen-tiny-Q8_0.gguf"
"$daemon" --verify-model "$models/musicgen-tiny-Q8_0.gguf" >"$tmp/verify" || fail "the installed model does not verify"
grep -q "Q8_0" "$tmp/verify" || fail "the installed model is not Q8_0"
grep -q "licence       cc-by-nc-4.0 (from lofi-test/musicgen-tiny)" "$tmp/verify" \
  || fail "the licence and source did not reach the GGUF: $(cat "$tmp/verify")"
[ ! -e "$tmp/data/nvim/lofi/convert-musicgen-tiny" ] || fail "intermediate files were left behind"
ls "$models" | grep -q '\.part$' && fail "a partial file was left where the plugin looks"
grep -q "CC-BY-NC 4.0" "$tmp/transcript" || fail "the licence was not shown"

expect_one_line() { # what pattern, args...
  local what="$1" pattern="$2"
  shift 2
  if run_install "$@" >/dev/null 2>"$tmp/err"; then fail "$what: install.sh succeeded"; fi
  grep -q "$pattern" "$tmp/err" || fail "$what: expected \"$pattern\", got: $(cat "$tmp/err")"
  echo "$what: $(grep "$pattern" "$tmp/err")"
}
echo "== failures, one line each"
expect_one_line "no network" "cannot reach Hugging Face" HF_ENDPOINT=http://127.0.0.1:9 -- --model lofi-test/not-cached
expect_one_line "no tokenizer" "has no spiece.model" HF_HUB_OFFLINE=1 -- --model lofi-test/no-tokenizer
expect_one_line "melody" "melody conditioning" -- --model musicgen-melody
echo "test_install_model: ok"
