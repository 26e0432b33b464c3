#!/usr/bin/env bash
# Runs every test of pybsim after making sure everything is installed and built:
# the Rust unit and end-to-end tests (cargo), the scenarios as a `pybsim test` suite,
# and MicroPython's own test directories through tests/run-tests.py.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh
status=0
echo "== cargo test (workspace, release)"
cargo test --release --workspace || status=1
if [ -d tests/scenarios ]; then
    echo "== pybsim test tests/scenarios"
    ./target/release/pybsim test tests/scenarios || status=1
fi
echo "== MicroPython's tests (run-tests.py)"
bash scripts/upstream-tests.sh || status=1
exit $status
