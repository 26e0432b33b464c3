#!/usr/bin/env bash
# Build the pybsim MicroPython firmware (runtime/) for the emulated PYBv1.1.
#
#   scripts/build-firmware.sh [--clean] [--check-repro]
#
# Output: .cache/firmware/firmware.elf and firmware.bin (git-ignored).
# The build is reproducible: fixed SOURCE_DATE_EPOCH and version, path prefix
# maps, sorted inputs. --check-repro builds twice from clean and compares.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MP_TOP="$ROOT/.cache/micropython-1.25.0"
OUT="$ROOT/.cache/firmware"
BUILD="$OUT/build"
JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

CLEAN=0
CHECK=0
for arg in "$@"; do
    case "$arg" in
        --clean) CLEAN=1 ;;
        --check-repro) CHECK=1 ;;
        *) echo "usage: $0 [--clean] [--check-repro]" >&2; exit 2 ;;
    esac
done

if [ ! -f "$MP_TOP/py/mpconfig.h" ]; then
    "$ROOT/scripts/fetch-micropython.sh"
fi
command -v arm-none-eabi-gcc >/dev/null || {
    echo "error: arm-none-eabi-gcc not found (run scripts/setup-deps.sh)" >&2; exit 1; }

# Reproducibility: fixed timestamp (the 1.25.0 release date), fixed version
# strings (no git lookup: the cache lives inside this repository's work tree),
# C locale, sorted file lists, UTC.
export SOURCE_DATE_EPOCH=1745452800
export MICROPY_GIT_TAG="v1.25.0"
export MICROPY_GIT_HASH=""
export LC_ALL=C TZ=UTC
export GIT_CEILING_DIRECTORIES="$ROOT/.cache"

build_mpy_cross() {
    if [ ! -x "$MP_TOP/mpy-cross/build/mpy-cross" ]; then
        echo "building mpy-cross"
        make -s -C "$MP_TOP/mpy-cross" -j"$JOBS" >/dev/null
    fi
}

build_firmware() {
    make -C "$ROOT/runtime" -j"$JOBS" \
        MICROPY_TOP="$MP_TOP" BUILD="$BUILD" \
        MICROPY_MPYCROSS="$MP_TOP/mpy-cross/build/mpy-cross" \
        MICROPY_MPYCROSS_DEPENDENCY="" \
        all
    cp "$BUILD/firmware.elf" "$OUT/firmware.elf"
    cp "$BUILD/firmware.bin" "$OUT/firmware.bin"
}

build_mpy_cross
mkdir -p "$OUT"

if [ "$CHECK" = 1 ]; then
    rm -rf "$BUILD"
    build_firmware >/dev/null
    A_ELF="$(sha256sum "$OUT/firmware.elf" | cut -d' ' -f1)"
    A_BIN="$(sha256sum "$OUT/firmware.bin" | cut -d' ' -f1)"
    rm -rf "$BUILD"
    build_firmware >/dev/null
    B_ELF="$(sha256sum "$OUT/firmware.elf" | cut -d' ' -f1)"
    B_BIN="$(sha256sum "$OUT/firmware.bin" | cut -d' ' -f1)"
    echo "build 1: elf $A_ELF bin $A_BIN"
    echo "build 2: elf $B_ELF bin $B_BIN"
    if [ "$A_ELF" != "$B_ELF" ] || [ "$A_BIN" != "$B_BIN" ]; then
        echo "error: firmware build is not reproducible" >&2
        exit 1
    fi
    echo "reproducible: identical firmware from two clean builds"
else
    if [ "$CLEAN" = 1 ]; then
        rm -rf "$BUILD"
    fi
    build_firmware
fi

arm-none-eabi-size "$OUT/firmware.elf"
echo "firmware: $OUT/firmware.elf"
echo "          $OUT/firmware.bin"
echo "sha256:   $(sha256sum "$OUT/firmware.bin" | cut -d' ' -f1)  firmware.bin"
