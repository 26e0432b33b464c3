#!/usr/bin/env bash
# Wall-time overhead of `pybsim profile` against `pybsim run` on the same workload.
#
#   scripts/bench-profile.sh [REPEATS]
#
# The workload is s04's three checksum loops run 20 times (about 0.3 G cycles), so that
# boot and process start-up do not dominate. Prints the best wall time of each and their ratio.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
N="${1:-3}"
BIN="$ROOT/target/release/pybsim"
cargo build --release -q -p pybsim --manifest-path "$ROOT/Cargo.toml"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
SCRIPT="$TMP/bench.py"
sed -e 's/^for name, f in/for _ in range(20):\n  for name, f in/' \
    -e 's/^    \(t = \|r = \|c = \|print\)/      \1/' \
    "$ROOT/tests/scenarios/s04_emitters.py" > "$SCRIPT"
best() {
    local b=""
    for _ in $(seq "$N"); do
        local s e
        s=$(date +%s.%N)
        "$@" > /dev/null 2>&1
        e=$(date +%s.%N)
        local t
        t=$(echo "$e - $s" | bc -l)
        if [ -z "$b" ] || [ "$(echo "$t < $b" | bc -l)" = 1 ]; then b=$t; fi
    done
    echo "$b"
}
RUN=$(best "$BIN" run "$SCRIPT")
PROF=$(best "$BIN" profile "$SCRIPT")
FULL=$(best "$BIN" profile "$SCRIPT" --folded "$TMP/f" --json "$TMP/j" --trace-json "$TMP/t")
"$BIN" profile "$SCRIPT" 2>&1 >/dev/null | head -1
printf 'run            %.3f s\n' "$RUN"
printf 'profile        %.3f s  (x%.2f)\n' "$PROF" "$(echo "$PROF / $RUN" | bc -l)"
printf 'profile+files  %.3f s  (x%.2f)\n' "$FULL" "$(echo "$FULL / $RUN" | bc -l)"
