#!/usr/bin/env bash
# Long run of the stateful random test (daemon/tests/stateful.rs): two daemons on one cache,
# random playlist/cache/transport operations, invariants after every step.
# Usage: scripts/soak-stateful.sh [CASES [OPS_PER_CASE]]   (default 20 x 1000 = 20,000 ops)
# The same number of cases runs on the model backend (the ggml fixture, with idle spells in
# which the model is handed back), LOFI_STATEFUL_MODEL_OPS operations each (default 100).
# Prints one line per case (ops, time, RSS of both daemons after the first and the last
# operation) and a total; exits non-zero on the first broken invariant, after shrinking it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cases="${1:-20}"
ops="${2:-1000}"
log="$(mktemp)"
LOFI_STATEFUL_CASES="$cases" LOFI_STATEFUL_OPS="$ops" \
  cargo test --locked -p lofi-daemon --test stateful -- --nocapture 2>&1 | tee "$log" | grep -E "^stateful( \(model\))?:|test result|panicked|minimal failing"
grep -c "^stateful:" "$log" | xargs -I{} echo "soak: {} cases of $ops operations passed"
grep -c "^stateful (model):" "$log" | xargs -I{} echo "soak: {} cases on the model passed"
