#!/usr/bin/env bash
# Checks that the README's two commands work from a fresh clone with nothing beside it:
# clones HEAD into a new temporary directory (the clone is the only thing in its parent),
# then runs `scripts/run.sh tests/scenarios/s02_led_blink.py` and `scripts/test.sh`
# there. It reuses cargo's download cache (CARGO_HOME) and the MicroPython source
# tarball already fetched into this checkout's .cache, so it needs no network for
# those; everything else is built from scratch in the clone.
#
#   scripts/fresh-clone-check.sh [--keep]
#
# Prints each command's exit status and wall time; exits non-zero if either failed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1

PARENT="$(mktemp -d)"
CLONE="$PARENT/pybsim"
cleanup() { [ "$KEEP" = 1 ] && echo "fresh-clone-check: kept $CLONE" || rm -rf "$PARENT"; }
trap cleanup EXIT

git clone -q --no-local "$ROOT" "$CLONE"
git -C "$CLONE" checkout -q "$(git -C "$ROOT" rev-parse HEAD)"
# The downloaded MicroPython source package (checked by SHA-256 again in the clone).
if [ -d "$ROOT/.cache/src" ]; then
    mkdir -p "$CLONE/.cache"
    cp -r "$ROOT/.cache/src" "$CLONE/.cache/src"
fi
echo "fresh-clone-check: $(git -C "$CLONE" log -1 --format='%h %s') in $CLONE"
echo "fresh-clone-check: beside it: $(ls -A "$PARENT" | tr '\n' ' ')"

status=0
run() {
    local name="$1"; shift
    local t0=$SECONDS rc=0
    (cd "$CLONE" && "$@") || rc=$?
    echo "fresh-clone-check: $name: exit $rc in $((SECONDS - t0)) s"
    [ "$rc" -eq 0 ] || status=1
}
run "scripts/run.sh tests/scenarios/s02_led_blink.py" bash scripts/run.sh tests/scenarios/s02_led_blink.py
run "scripts/test.sh" bash scripts/test.sh
exit $status
