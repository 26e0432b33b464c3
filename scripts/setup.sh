#!/usr/bin/env bash
# Brings a fresh machine to a working pybsim: host packages, the pinned MicroPython
# source, the default firmware and the release build. Each step skips what is there.
#
#   scripts/setup.sh            everything
#   scripts/setup.sh --quiet    less chatter (used by run.sh)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
QUIET=0
[ "${1:-}" = "--quiet" ] && QUIET=1
say() { [ "$QUIET" = 1 ] || echo "setup: $*" >&2; }

step() {
    local name="$1"; shift
    say "$name"
    local t0=$SECONDS
    "$@"
    say "$name: done in $((SECONDS - t0)) s"
}

# 1. Host packages (apt): cross compiler, newlib, cmake and libclang for unicorn.
step "host packages" bash scripts/setup-deps.sh >&2

# 2. Python modules the MicroPython tools use (pyboard.py needs pyserial for ptys).
if ! python3 -c 'import serial' 2>/dev/null; then
    step "pyserial" python3 -m pip install -q pyserial >&2
fi

# 3. Rust toolchain: the machine's own (rustup); nothing else can be fetched.
command -v cargo >/dev/null || { echo "setup: cargo not found (install Rust with rustup)" >&2; exit 1; }

# 4. MicroPython 1.25.0 from Debian's source package, checked by SHA-256.
step "MicroPython source" bash scripts/fetch-micropython.sh >&2

# 5. The default firmware (runtime/): mpy-cross, then the port.
if [ ! -f .cache/firmware/firmware.elf ] || [ -n "$(find runtime -newer .cache/firmware/firmware.elf -type f | head -1)" ]; then
    # Clean: MicroPython's incremental qstr/config tracking can miss new module
    # tables and leave a firmware with wrong names; a clean build takes ~40 s.
    step "firmware" bash scripts/build-firmware.sh --clean >&2
else
    say "firmware: up to date (.cache/firmware/firmware.elf)"
fi

# 6. pybsim itself (release build; the first one compiles unicorn, about 2 minutes).
step "pybsim (cargo build --release)" cargo build --release --quiet -p pybsim
