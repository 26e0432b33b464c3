#!/usr/bin/env bash
# Runs every test of pybsim after making sure everything is installed and built:
# the Rust unit and end-to-end tests (cargo), the scenarios as a `pybsim test` suite,
# and MicroPython's own test directories through tests/run-tests.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
passed=0
failed=0
suite() {
    local name="$1"; shift
    echo "== $name"
    if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "== FAILED: $name"; fi
}
suite "cargo test (workspace, release)" cargo test --release --workspace
if [ -d tests/scenarios ]; then
    suite "pybsim test tests/scenarios" ./target/release/pybsim test tests/scenarios
fi
for d in basics micropython float inlineasm/thumb ports/qemu; do
    suite "MicroPython tests: $d" bash scripts/upstream-tests.sh "$d"
done
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
