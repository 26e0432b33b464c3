#!/usr/bin/env bash
# Calibration benchmark of the cycle model (a benchmark, never a test): for each public
# reference in scripts/calibrate/references.tsv it prints the reference figure,
# pybsim's figure and their ratio.
#
#   scripts/calibrate.sh [embench] [coremark] [ws]     (default: all three)
#
# embench   Embench IoT 2.0, the 19 benchmarks built bare-metal as the reference was
#           (GCC -O2 -mcpu=cortex-m4 -mfloat-abi=soft, scale factor 16), run on the
#           pybv11 board at its reset clock (16 MHz HSI, zero wait states); cycles
#           from DWT_CYCCNT around benchmark() against speed.json's ms x 16000.
#           Needs EMBENCH_DIR: a checkout (or git directory) of embench/embench-iot.
# coremark  CoreMark (2K performance run, 400 iterations) at 5 wait states with the
#           prefetch buffer and the ART caches on, GCC -O2 and -O3, as CoreMark/MHz.
#           Needs COREMARK_DIR: a checkout (or git directory) of eembc/coremark.
# ws        MicroPython perf_bench (N=84 M=80) on the official PYBV11 firmware at
#           FLASH_ACR.LATENCY 5 and 2, the change in time per benchmark against
#           MicroPython PR #18069's. Needs PYBSIM_OFFICIAL_FIRMWARE_PYBV11 and the
#           MicroPython tree setup unpacks (.cache/micropython-1.25.0).
#
# The compiler: CALIBRATE_GCC if set (an arm-none-eabi-gcc), else GCC 14 from Debian
# trixie unpacked into .cache/gcc14 by scripts/calibrate/fetch-gcc14.sh (the reference's
# compiler is GCC 14.1), else the machine's own arm-none-eabi-gcc with a warning.
# Builds go to target/calibrate/; nothing of Embench, CoreMark or the compiler is kept
# in the repository. A part whose inputs are missing says what to set and is skipped.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
REFS="$ROOT/scripts/calibrate/references.tsv"
OUT="$ROOT/target/calibrate"
mkdir -p "$OUT"

PARTS=("$@")
[ "${#PARTS[@]}" -eq 0 ] && PARTS=(embench coremark ws)
for p in "${PARTS[@]}"; do
    case "$p" in
        embench | coremark | ws) ;;
        *) echo "calibrate: unknown part '$p' (embench, coremark, ws)" >&2; exit 64 ;;
    esac
done
want() { local p; for p in "${PARTS[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }
ref() { awk -F'\t' -v s="$1" -v n="$2" '$1 == s && $2 == n {print $3}' "$REFS"; }

# ---- tools -------------------------------------------------------------------------

pick_gcc() {
    if [ -n "${CALIBRATE_GCC:-}" ]; then
        echo "$CALIBRATE_GCC"
        return
    fi
    local g
    if g="$(bash scripts/calibrate/fetch-gcc14.sh 2>"$OUT/fetch-gcc14.log")"; then
        echo "$g"
        return
    fi
    echo "calibrate: no GCC 14 (see $OUT/fetch-gcc14.log); using the machine's arm-none-eabi-gcc," \
        "whose code differs from the reference's" >&2
    echo arm-none-eabi-gcc
}

# Flags that find newlib for $GCC and the multilib of the flags given: nothing for a
# compiler that finds it itself, the unpacked Debian layout for fetch-gcc14.sh's.
newlib_flags() {
    local found md prefix
    found="$("$GCC" "$@" -print-file-name=libc.a)"
    [ "$found" != "libc.a" ] && return
    md="$("$GCC" "$@" -print-multi-directory)"
    prefix="$(cd "$(dirname "$(command -v "$GCC")")/.." && pwd)"
    echo "-isystem $prefix/include/newlib -L$prefix/lib/arm-none-eabi/newlib/$md"
}

# A source tree from a checkout or a git directory (its HEAD, unpacked once).
source_tree() {
    local dir="$1" name="$2"
    if [ ! -f "$dir/HEAD" ] || [ ! -d "$dir/objects" ]; then
        echo "$dir"
        return
    fi
    local head
    head="$(git --git-dir="$dir" rev-parse HEAD)"
    local tree="$OUT/src/$name-$head"
    if [ ! -d "$tree" ]; then
        mkdir -p "$tree.tmp"
        git --git-dir="$dir" archive HEAD | tar -x -C "$tree.tmp"
        mv "$tree.tmp" "$tree"
    fi
    echo "$tree"
}

RUNNER="$ROOT/target/release/examples/run_elf"
build_runner() {
    cargo build --release -q -p pybsim --example run_elf
}

# link ELF SOURCES... with the flags in CFLAGS (array), tests/asm's start-up and script.
link_program() {
    local elf="$1"
    shift
    # shellcheck disable=SC2046
    "$GCC" "${CFLAGS[@]}" $(newlib_flags "${CFLAGS[@]}") -Itests/asm \
        -nostdlib -nostartfiles -static -Wl,--gc-sections -Wl,--no-warn-rwx-segments \
        -Wl,-T,scripts/calibrate/link.ld -o "$elf" tests/asm/common.S "$@" \
        -Wl,--start-group -lc -lm -lgcc -Wl,--end-group
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

if want embench || want coremark; then
    GCC="$(pick_gcc)"
    GCC_VERSION="$("$GCC" -dumpfullversion 2>/dev/null || "$GCC" -dumpversion)"
    build_runner
fi

# ---- Embench IoT ---------------------------------------------------------------------

run_embench() {
    if [ -z "${EMBENCH_DIR:-}" ]; then
        echo "embench: skipped: set EMBENCH_DIR to a checkout of embench/embench-iot"
        return
    fi
    local src
    src="$(source_tree "$EMBENCH_DIR" embench)"
    [ -f "$src/support/main.c" ] || { echo "embench: $EMBENCH_DIR holds no support/main.c" >&2; return 1; }
    local bd="$OUT/embench-gcc$GCC_VERSION"
    mkdir -p "$bd"
    CFLAGS=(-O2 -ffunction-sections -fdata-sections -mcpu=cortex-m4 -mfloat-abi=soft -mthumb
        -DWARMUP_HEAT=1 -DGLOBAL_SCALE_FACTOR=16 -I"$src/support")
    echo "Embench IoT 2.0 on pybv11 at 16 MHz, 0 WS; GCC $GCC_VERSION -O2 (reference: STM32F407, GCC 14.1)"
    echo "(ref13: the same programs in Embench's GCC 13.2 baseline, see references.tsv)"
    printf '%-16s %12s %12s %7s %12s %7s\n' benchmark reference pybsim ratio ref13 ratio13
    local logsum=0 logsum13=0 n=0 within=0 name
    for name in $(awk -F'\t' '$1 == "embench" {print $2}' "$REFS"); do
        local elf="$bd/$name.elf"
        if [ ! -f "$elf" ]; then
            link_program "$elf" scripts/calibrate/embench_board.c "$src/support/main.c" \
                "$src/support/beebsc.c" "$src/src/$name"/*.c 2>"$bd/$name.build.log" || {
                echo "$name: build failed (see $bd/$name.build.log)"
                continue
            }
        fi
        local out status=0
        out="$("$RUNNER" "$elf" 2>"$bd/$name.run.log")" || status=$?
        local hex
        hex="$(echo "$out" | sed -n 's/^cycles=\([0-9A-F]*\)$/\1/p' | tail -n1)"
        if [ "$status" != 0 ] || [ -z "$hex" ]; then
            echo "$name: run failed (status $status; see $bd/$name.run.log)"
            continue
        fi
        local cyc=$((16#$hex)) refc=$(($(ref embench "$name") * 16000))
        local r ref13 r13
        r="$(ratio "$cyc" "$refc")"
        ref13="$(awk -v m="$(ref embench13 "$name")" 'BEGIN { printf "%d", m * 16000 }')"
        r13="$(ratio "$cyc" "$ref13")"
        printf '%-16s %12d %12d %7s %12d %7s\n' "$name" "$refc" "$cyc" "$r" "$ref13" "$r13"
        logsum="$(awk -v s="$logsum" -v r="$r" 'BEGIN { print s + log(r) }')"
        logsum13="$(awk -v s="$logsum13" -v r="$r13" 'BEGIN { print s + log(r) }')"
        n=$((n + 1))
        within=$((within + $(awk -v r="$r" 'BEGIN { print (r >= 0.9 && r <= 1.1) ? 1 : 0 }')))
    done
    [ "$n" -gt 0 ] && printf '%-16s %12s %12s %7s %12s %7s   (%d of %d within 10 %%)\n' geomean "" "" \
        "$(awk -v s="$logsum" -v n="$n" 'BEGIN { printf "%.3f", exp(s / n) }')" "" \
        "$(awk -v s="$logsum13" -v n="$n" 'BEGIN { printf "%.3f", exp(s / n) }')" "$within" "$n"
    echo
}

# ---- CoreMark ------------------------------------------------------------------------

run_coremark() {
    if [ -z "${COREMARK_DIR:-}" ]; then
        echo "coremark: skipped: set COREMARK_DIR to a checkout of eembc/coremark"
        return
    fi
    local src
    src="$(source_tree "$COREMARK_DIR" coremark)"
    [ -f "$src/core_main.c" ] || { echo "coremark: $COREMARK_DIR holds no core_main.c" >&2; return 1; }
    local bd="$OUT/coremark-gcc$GCC_VERSION" refv
    refv="$(ref coremark stm32f405-mdk-O3)"
    mkdir -p "$bd"
    echo "CoreMark on pybv11, 5 WS, prefetch + ART on; GCC $GCC_VERSION (reference: STM32F405 168 MHz, MDK -O3)"
    printf '%-16s %12s %12s %7s\n' build reference pybsim ratio
    local opt
    for opt in -O2 -O3; do
        local elf="$bd/coremark$opt.elf"
        CFLAGS=("$opt" -mcpu=cortex-m4 -mthumb -mfloat-abi=soft -DPERFORMANCE_RUN=1
            "-DFLAGS_STR=\"$opt\"" -Iscripts/calibrate/coremark -I"$src")
        if [ ! -f "$elf" ]; then
            link_program "$elf" scripts/calibrate/coremark/core_portme.c "$src"/core_list_join.c \
                "$src"/core_main.c "$src"/core_matrix.c "$src"/core_state.c "$src"/core_util.c \
                2>"$bd/build$opt.log" || { echo "coremark$opt: build failed (see $bd/build$opt.log)"; continue; }
        fi
        local out
        out="$("$RUNNER" "$elf" 2>"$bd/run$opt.log")" || true
        echo "$out" >"$bd/out$opt.txt"
        if echo "$out" | grep -q 'ERROR!.*crc' || ! echo "$out" | grep -q '^pybsim: ticks='; then
            echo "coremark$opt: failed validation (see $bd/out$opt.txt)"
            continue
        fi
        local ticks iters cm
        ticks="$(echo "$out" | sed -n 's/^pybsim: ticks=\([0-9]*\) .*/\1/p')"
        iters="$(echo "$out" | sed -n 's/.* iterations=\([0-9]*\)$/\1/p')"
        cm="$(awk -v i="$iters" -v t="$ticks" 'BEGIN { printf "%.3f", i * 1e6 / t }')"
        printf '%-16s %12s %12s %7s\n' "gcc $opt" "$refv" "$cm" "$(ratio "$cm" "$refv")"
    done
    echo
}

# ---- flash wait states on the official firmware --------------------------------------

run_ws() {
    local fw="${PYBSIM_OFFICIAL_FIRMWARE_PYBV11:-}"
    if [ -z "$fw" ] || [ ! -f "$fw" ]; then
        echo "ws: skipped: set PYBSIM_OFFICIAL_FIRMWARE_PYBV11 to the official v1.25.0 PYBV11 firmware.elf"
        return
    fi
    local bench="$ROOT/.cache/micropython-1.25.0/tests/perf_bench"
    [ -f "$bench/benchrun.py" ] || { echo "ws: skipped: run scripts/setup.sh (no $bench)"; return; }
    cargo build --release -q -p pybsim
    local bd="$OUT/ws"
    mkdir -p "$bd"
    echo "perf_bench N=84 M=80 on the official PYBV11 firmware: time at 2 WS against 5 WS"
    echo "(reference: MicroPython PR #18069, NUCLEO-F401RE at 84 MHz)"
    printf '%-14s %10s %10s %9s %9s %7s\n' benchmark "5WS us" "2WS us" reference pybsim points
    local name worst=0
    for name in $(awk -F'\t' '$1 == "ws" {print $2}' "$REFS"); do
        local t=() ws
        for ws in 5 2; do
            local py="$bd/$name-$ws.py"
            {
                echo "import machine"
                echo "machine.mem32[0x40023C00] = (machine.mem32[0x40023C00] & ~7) | $ws"
                cat "$bench/$name.py" "$bench/benchrun.py"
                echo "bm_run(84, 80)"
            } >"$py"
            local out
            out="$("$ROOT/target/release/pybsim" run --firmware "$fw" "$py" 2>"$bd/$name-$ws.log")" || true
            t+=("$(echo "$out" | awk 'NF >= 3 && $1 ~ /^[0-9]+$/ {print $1}' | tail -n1)")
        done
        if [ -z "${t[0]}" ] || [ -z "${t[1]}" ]; then
            echo "$name: run failed (see $bd/$name-*.log)"
            continue
        fi
        local refd d pts
        refd="$(ref ws "$name")"
        d="$(awk -v a="${t[0]}" -v b="${t[1]}" 'BEGIN { printf "%.3f", (b - a) * 100 / a }')"
        pts="$(awk -v a="$d" -v b="$refd" 'BEGIN { printf "%+.1f", a - b }')"
        printf '%-14s %10d %10d %8.1f%% %8.1f%% %7s\n' "$name" "${t[0]}" "${t[1]}" "$refd" "$d" "$pts"
        worst="$(awk -v w="$worst" -v p="$pts" 'BEGIN { p = p < 0 ? -p : p; print (p > w ? p : w) }')"
    done
    echo "worst difference: $worst points (target: 3)"
    echo
}

want embench && run_embench
want coremark && run_coremark
want ws && run_ws
exit 0
