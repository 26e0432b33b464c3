#!/usr/bin/env bash
# Runs MicroPython's own test directories from the pinned source against the emulated
# board with tests/run-tests.py, through `pybsim run --serial stdio` (the `exec:`
# target). Tests listed in tests/upstream-expected-fail.txt are excluded there, each
# with its reason. Prints passed/failed/skipped per directory; fails if any test fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MP="$ROOT/.cache/micropython-1.25.0"
PYBSIM="$ROOT/target/release/pybsim"
[ -x "$PYBSIM" ] || { echo "upstream-tests: build pybsim first (scripts/setup.sh)" >&2; exit 1; }
[ -d "$MP/tests" ] || { echo "upstream-tests: no MicroPython source (scripts/fetch-micropython.sh)" >&2; exit 1; }
DIRS=(basics micropython float inlineasm/thumb ports/qemu)
[ $# -gt 0 ] && DIRS=("$@")
EXCLUDES=()
while IFS= read -r line; do
    line="${line%%#*}"; line="$(echo "$line" | xargs)"
    [ -n "$line" ] && EXCLUDES+=(--exclude "$line")
done < "$ROOT/tests/upstream-expected-fail.txt"
status=0
cd "$MP/tests"
for d in "${DIRS[@]}"; do
    log="$(mktemp)"
    if ! ./run-tests.py -t "exec:$PYBSIM run --serial stdio" "${EXCLUDES[@]}" -d "$d" >"$log" 2>&1; then
        status=1
    fi
    summary="$(grep -E '^[0-9]+ tests (passed|failed|skipped)' "$log" | tr '\n' ' ')"
    echo "upstream $d: $summary"
    grep -E '^FAIL' "$log" || true
    rm -f "$log"
done
exit $status
