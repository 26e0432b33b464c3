#!/usr/bin/env bash
# Runs shard K of N of a `pybsim test` suite and writes its reports, as the CI examples
# beside this file call it:
#
#   examples/ci/pybsim-shard.sh SUITE K N OUTDIR
#
# writes OUTDIR/pybsim-K-of-N.xml (JUnit) and OUTDIR/pybsim-K-of-N.json, and exits with
# pybsim test's status (0 all passed or skipped, 1 a failure, 64 a usage error). The
# shards of one suite run every test exactly once (`--partition K/N`: round robin over
# the tests sorted by path). PYBSIM names the binary (default: target/release/pybsim,
# which scripts/setup.sh builds).
set -euo pipefail
if [ "$#" -ne 4 ]; then
    echo "usage: $0 SUITE K N OUTDIR" >&2
    exit 64
fi
suite="$1"
k="$2"
n="$3"
out="$4"
pybsim="${PYBSIM:-target/release/pybsim}"
mkdir -p "$out"
exec "$pybsim" test "$suite" --partition "$k/$n" \
    --junit "$out/pybsim-$k-of-$n.xml" --json "$out/pybsim-$k-of-$n.json"
