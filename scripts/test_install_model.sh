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

# Interrupted and run again: the second run ends in a verified model and nothing stray.
start_install() { # like run_install, in the background in its own process group
  setsid env HOME="$tmp/home" XDG_DATA_HOME="$tmp/data" HF_HOME="$tmp/hf" \
    LOFI_RELEASE_URL="file://$tmp/daemon.tar.gz" "$@" >/dev/null 2>&1 &
  echo $!
}
wait_for() { # what, test command...
  local what="$1"
  shift
  for _ in $(seq 1 1500); do "$@" && return 0; sleep 0.02; done
  fail "timed out waiting for $what"
}
stray() { find "$tmp/data/nvim/lofi" -name '*.part' -o -name 'convert-*' | grep -q . ; }

echo "== interrupted mid-download, then run again (resumes with a Range request)"
# A server that sends the fixture slowly (64 KiB every 20 ms) and honours Range, as a
# mirror of the prebuilt model would.
cat >"$tmp/serve.py" <<'PY'
import http.server, os, sys, time
path, log = sys.argv[1], sys.argv[2]
class Slow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        size = os.path.getsize(path)
        start = int(self.headers.get("Range", "bytes=0-")[6:].split("-")[0] or 0)
        with open(log, "a") as f:
            f.write(f"{start}\n")
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(size - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            while chunk := f.read(65536):
                try:
                    self.wfile.write(chunk)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    return  # the installer was interrupted
                time.sleep(0.02)
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Slow)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
python3 "$tmp/serve.py" tests/fixtures/musicgen-tiny/model-f16.gguf "$tmp/ranges" >"$tmp/port" &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
wait_for "the server" test -s "$tmp/port"
url="http://127.0.0.1:$(cat "$tmp/port")/model.gguf"
part="$models/musicgen-tiny-F16.gguf.part"
pid=$(start_install LOFI_MODEL_URL="$url" bash "$tmp/plugin/install.sh" --model lofi-test/musicgen-tiny --quantization F16)
wait_for "half a download" bash -c "[ \$(stat -c %s '$part' 2>/dev/null || echo 0) -gt 1000000 ]"
kill -TERM -- "-$pid"
wait "$pid" 2>/dev/null || true
[ ! -e "$models/musicgen-tiny-F16.gguf" ] || fail "an interrupted download was put where the plugin looks"
echo "interrupted at $(stat -c %s "$part") of $(stat -c %s tests/fixtures/musicgen-tiny/model-f16.gguf) bytes"
run_install LOFI_MODEL_URL="$url" -- --model lofi-test/musicgen-tiny --quantization F16 >/dev/null \
  || fail "the second run after an interrupted download failed"
cmp -s "$models/musicgen-tiny-F16.gguf" tests/fixtures/musicgen-tiny/model-f16.gguf || fail "the resumed download differs"
[ "$(tail -n 1 "$tmp/ranges")" -gt 0 ] || fail "the second run downloaded from the start: $(cat "$tmp/ranges")"
echo "resumed from byte $(tail -n 1 "$tmp/ranges")"
stray && fail "stray files after the resumed download: $(find "$tmp/data/nvim/lofi" -name '*.part' -o -name 'convert-*')"

echo "== interrupted mid-conversion, then run again"
rm -f "$models/musicgen-tiny-Q8_0.gguf"
pid=$(start_install HF_HUB_OFFLINE=1 bash "$tmp/plugin/install.sh" --model lofi-test/musicgen-tiny --quantization Q8_0)
wait_for "the conversion" test -e "$tmp/data/nvim/lofi/convert-musicgen-tiny/convert.log"
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
[ ! -e "$models/musicgen-tiny-Q8_0.gguf" ] || fail "an interrupted conversion was put where the plugin looks"
run_install HF_HUB_OFFLINE=1 -- --model lofi-test/musicgen-tiny --quantization Q8_0 >/dev/null \
  || fail "the second run after an interrupted conversion failed"
"$daemon" --verify-model "$models/musicgen-tiny-Q8_0.gguf" >/dev/null || fail "the model after the rerun does not verify"
stray && fail "stray files after the rerun: $(find "$tmp/data/nvim/lofi" -name '*.part' -o -name 'convert-*')"
echo "verified after the rerun; no .part, no convert-* left"
echo "test_install_model: ok"
