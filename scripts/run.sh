#!/usr/bin/env bash
# Runs pybsim after making sure everything is installed and built:
#   scripts/run.sh tests/scenarios/s02_led_blink.py
#   scripts/run.sh                      (interactive REPL)
# Any pybsim run option may follow, e.g. --board pybv10 --max-time 2s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" --quiet
exec "$ROOT/target/release/pybsim" run "$@"
