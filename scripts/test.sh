#!/usr/bin/env bash
# Runs every test of pybsim after making sure everything is installed and built:
# the portability check, the Rust unit and end-to-end tests (cargo), the scenarios as a
# `pybsim test` suite, and MicroPython's own test directories through run-tests.py.
#
# Every suite runs even when an earlier one fails (cargo with --no-fail-fast). The
# summary at the end names each failing suite and cargo test binary, and every test that
# skipped its work, with the reason it gave (tests record skips in $PYBSIM_SKIP_LOG).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
export PYBSIM_SKIP_LOG="$WORK/skips.tsv"
# Setup built the firmware: a test that cannot find it is a failure, not a skip.
export PYBSIM_REQUIRE_FIRMWARE=1
: > "$PYBSIM_SKIP_LOG"

passed=0
failed=0
failures=()
suite() {
    local name="$1"; shift
    echo "== $name"
    if "$@"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        failures+=("$name")
        echo "== FAILED: $name"
    fi
}

cargo_tests() {
    local log="$WORK/cargo.log" rc=0
    cargo test --release --workspace --no-fail-fast 2>&1 | tee "$log" || rc=$?
    [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
    # cargo lists the test binaries that failed after `error: N targets failed:`.
    sed -n '/targets\? failed:/,$p' "$log" | grep -E '^\s+`' | sed -E 's/^\s+/  /' \
        > "$WORK/cargo-failed.txt" || true
    return $rc
}

suite "portability (no machine paths in tracked files)" bash scripts/check-portable.sh
suite "cargo test (workspace, release)" cargo_tests
suite "pybsim test tests/scenarios" ./target/release/pybsim test tests/scenarios
for m in bytecode mpy native; do
    suite "MicroPython tests ($m)" bash scripts/upstream-tests.sh --mode "$m"
done
suite "MicroPython tests on the official firmware" bash scripts/upstream-tests.sh --official

echo
echo "suites: $passed passed, $failed failed"
for f in "${failures[@]}"; do
    echo "  failed: $f"
done
if [ -s "$WORK/cargo-failed.txt" ]; then
    echo "cargo test binaries that failed:"
    cat "$WORK/cargo-failed.txt"
fi
nskip=$(sort -u "$PYBSIM_SKIP_LOG" | grep -c . || true)
echo "skipped tests: $nskip"
sort -u "$PYBSIM_SKIP_LOG" | awk -F '\t' '{ printf "  %s: %s\n", $1, $2 }'
[ "$failed" -eq 0 ]
