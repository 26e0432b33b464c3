#!/usr/bin/env bash
# Runs MicroPython's own test suite from the pinned source on the emulated board, as
# ports/qemu's `make test_full` does: tests/run-tests.py over the `exec:` target
# (`pybsim run --serial stdio`), once per directory in each of three modes:
#
#   bytecode   the tests as source, compiled on the board
#   mpy        --via-mpy: compiled to .mpy by mpy-cross, loaded by the board
#   native     --via-mpy --emit native: every function compiled to Thumb-2
#
# The viper_*/native_* tests (micropython/, ports/qemu/) run in every mode and are
# counted on their own as well.
#
#   scripts/upstream-tests.sh [--official] [--mode M]... [DIR]...
#
#   --official   run on the official MicroPython PYBV11 firmware named by
#                PYBSIM_OFFICIAL_FIRMWARE_PYBV11 (skipped with a message when unset)
#   --mode M     bytecode, mpy or native (repeatable; default: all three)
#   DIR          test directories under tests/ (default: all of DIRS below)
#
# Each run's board gets a flash filesystem (`pybsim run --fs`) with what the tests
# expect beside them: tests/upstream-fs (unittest in /flash/lib, where `mpremote mip
# install unittest` puts it) for every directory, plus import/'s modules and packages
# for import, io/data or unicode/data as /flash/data for io and unicode.
#
# Tests listed in tests/upstream-expected-fail.txt are not run (each line has its
# reason). Directories run PYBSIM_UPSTREAM_JOBS at a time (default: the number of
# cores), each given PYBSIM_UPSTREAM_TIMEOUT seconds (default 900). Prints
# passed/failed/skipped per directory and mode and a total; exits 1 if any test fails.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MP="$ROOT/.cache/micropython-1.25.0"
PYBSIM="$ROOT/target/release/pybsim"
EXPECTED="$ROOT/tests/upstream-expected-fail.txt"
FSBASE="$ROOT/tests/upstream-fs"
DIRS=(basics micropython float extmod inlineasm/thumb stress misc unicode import io ports/qemu)
ALL_MODES=(bytecode mpy native)

usage() {
    echo "usage: $0 [--official] [--mode bytecode|mpy|native]... [DIR]..." >&2
    exit 2
}

FIRMWARE=ours
MODES=()
ARGS_DIRS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --official) FIRMWARE=official ;;
        --mode)
            [ $# -ge 2 ] || usage
            case "$2" in bytecode|mpy|native) MODES+=("$2") ;; *) usage ;; esac
            shift ;;
        -*) usage ;;
        *) ARGS_DIRS+=("$1") ;;
    esac
    shift
done
[ ${#MODES[@]} -gt 0 ] || MODES=("${ALL_MODES[@]}")
[ ${#ARGS_DIRS[@]} -gt 0 ] && DIRS=("${ARGS_DIRS[@]}")

[ -x "$PYBSIM" ] || { echo "upstream-tests: build pybsim first (scripts/setup.sh)" >&2; exit 1; }
[ -d "$MP/tests" ] || { echo "upstream-tests: no MicroPython source (scripts/fetch-micropython.sh)" >&2; exit 1; }
[ -x "$MP/mpy-cross/build/mpy-cross" ] || { echo "upstream-tests: no mpy-cross (scripts/build-firmware.sh builds it)" >&2; exit 1; }
for d in "${DIRS[@]}"; do
    [ -d "$MP/tests/$d" ] || { echo "upstream-tests: no test directory tests/$d in the MicroPython source" >&2; exit 2; }
done

RUN=("$PYBSIM" run --serial stdio)
if [ "$FIRMWARE" = official ]; then
    if [ -z "${PYBSIM_OFFICIAL_FIRMWARE_PYBV11:-}" ]; then
        msg="PYBSIM_OFFICIAL_FIRMWARE_PYBV11 is not set: no official firmware to run the suite on"
        echo "upstream-tests (official): skipped: $msg"
        if [ -n "${PYBSIM_SKIP_LOG:-}" ]; then
            printf 'upstream-tests --official\t%s\n' "$msg" >> "$PYBSIM_SKIP_LOG"
        fi
        exit 0
    fi
    [ -f "${PYBSIM_OFFICIAL_FIRMWARE_PYBV11%%,*}" ] || {
        echo "upstream-tests: PYBSIM_OFFICIAL_FIRMWARE_PYBV11=$PYBSIM_OFFICIAL_FIRMWARE_PYBV11: no such file" >&2
        exit 1
    }
    # The official firmware's REPL is on USB CDC: --serial stdio reaches it through the
    # USB host model.
    RUN+=(--firmware "$PYBSIM_OFFICIAL_FIRMWARE_PYBV11")
fi
export MICROPY_MPYCROSS="$MP/mpy-cross/build/mpy-cross"

# Expected failures: "[@ours|@official] [@bytecode|@mpy|@native] REGEX  # reason".
# A line applies when each of its qualifiers matches this run.
declare -A EXCLUDE_BY_MODE
for m in "${MODES[@]}"; do EXCLUDE_BY_MODE[$m]=""; done
lineno=0
while IFS= read -r line || [ -n "$line" ]; do
    lineno=$((lineno + 1))
    body="${line%%#*}"
    read -r -a words <<< "$body" || true
    [ ${#words[@]} -gt 0 ] || continue
    case "$line" in
        *"#"*) reason="${line#*#}"; reason="${reason#"${reason%%[![:space:]]*}"}" ;;
        *) reason="" ;;
    esac
    [ -n "$reason" ] || { echo "upstream-tests: $EXPECTED:$lineno: no reason given (# why)" >&2; exit 2; }
    fw_ok=1
    line_modes=()
    regex=""
    for w in "${words[@]}"; do
        case "$w" in
            @ours|@official) [ "$w" = "@$FIRMWARE" ] || fw_ok=0 ;;
            @bytecode|@mpy|@native) line_modes+=("${w#@}") ;;
            @*) echo "upstream-tests: $EXPECTED:$lineno: unknown qualifier $w" >&2; exit 2 ;;
            *) [ -z "$regex" ] || { echo "upstream-tests: $EXPECTED:$lineno: one regex a line" >&2; exit 2; }
               regex="$w" ;;
        esac
    done
    [ -n "$regex" ] || { echo "upstream-tests: $EXPECTED:$lineno: no test regex" >&2; exit 2; }
    [ "$fw_ok" = 1 ] || continue
    [ ${#line_modes[@]} -gt 0 ] || line_modes=("${ALL_MODES[@]}")
    for m in "${line_modes[@]}"; do
        if [ -n "${EXCLUDE_BY_MODE[$m]+x}" ]; then
            EXCLUDE_BY_MODE[$m]+="$regex"$'\n'
        fi
    done
done < "$EXPECTED"

WORK="$(mktemp -d)"
[ -n "${PYBSIM_UPSTREAM_KEEP:-}" ] || trap 'rm -rf "$WORK"' EXIT

# The flash filesystem for a test directory.
make_fs() {
    local d="$1" fs="$WORK/fs-${1//\//_}"
    mkdir -p "$fs"
    cp -r "$FSBASE/." "$fs/"
    case "$d" in
        import) cp -r "$MP/tests/import/." "$fs/" ;;
        io) cp -r "$MP/tests/io/data" "$fs/data" ;;
        unicode) cp -r "$MP/tests/unicode/data" "$fs/data" ;;
    esac
    echo "$fs"
}

run_one() {
    local d="$1" m="$2" key="$3" fs="$4"
    local -a mode_args=() excl=()
    case "$m" in
        mpy) mode_args=(--via-mpy) ;;
        native) mode_args=(--via-mpy --emit native) ;;
    esac
    while IFS= read -r r; do
        [ -n "$r" ] && excl+=(--exclude "$r")
    done <<< "${EXCLUDE_BY_MODE[$m]}"
    # The shell that run-tests.py starts for exec: notes its pid, which pybsim keeps
    # (exec), so that a board left behind by a timeout can be stopped.
    local cmd pidfile="$WORK/pid-$key"
    cmd="echo \$\$ > $(printf '%q' "$pidfile"); exec $(printf '%q ' "${RUN[@]}" --fs "$fs")"
    local t0=$SECONDS rc=0
    # A board that never answers (or a pybsim that died: run-tests.py then spins on
    # the closed pipe) must not hold the run: each directory gets TIMEOUT seconds.
    (cd "$MP/tests" && timeout --kill-after=10 "$TIMEOUT" ./run-tests.py -t "exec:$cmd" \
        -r "$WORK/results-$key" "${mode_args[@]}" "${excl[@]}" -d "$d") \
        > "$WORK/log-$key" 2>&1 || rc=$?
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        echo "TIMEOUT: $d ($m) did not finish in $TIMEOUT s" >> "$WORK/log-$key"
    fi
    if [ -s "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
    fi
    echo "$rc $((SECONDS - t0))" > "$WORK/status-$key"
}

declare -A FS
for d in "${DIRS[@]}"; do FS[$d]="$(make_fs "$d")"; done

JOBS="${PYBSIM_UPSTREAM_JOBS:-$(nproc 2>/dev/null || echo 1)}"
TIMEOUT="${PYBSIM_UPSTREAM_TIMEOUT:-900}"
keys=()
start=$SECONDS
for m in "${MODES[@]}"; do
    for d in "${DIRS[@]}"; do
        key="${m}-${d//\//_}"
        keys+=("$key")
        while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
            wait -n || true
        done
        run_one "$d" "$m" "$key" "${FS[$d]}" &
    done
done
wait

count() { # count WORD LOG: run-tests.py's "pass"/"FAIL"/"skip" lines, one a test
    grep -Ec "^$1 " "$2" || true
}

status=0
tp=0; tf=0; ts=0
i=0
for m in "${MODES[@]}"; do
    for d in "${DIRS[@]}"; do
        key="${keys[$i]}"; i=$((i + 1))
        log="$WORK/log-$key"
        read -r rc secs < "$WORK/status-$key"
        p="$(count pass "$log")"; f="$(count FAIL "$log")"; s="$(count skip "$log")"
        tp=$((tp + p)); tf=$((tf + f)); ts=$((ts + s))
        printf 'upstream %s %-8s %-16s %4d passed, %d failed, %d skipped (%d s)\n' \
            "$FIRMWARE" "$m" "$d" "$p" "$f" "$s" "$secs"
        grep -E '^FAIL ' "$log" | sed 's/^/    /' || true
        if [ "$rc" -ne 0 ]; then
            status=1
            if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
                echo "    timed out after $TIMEOUT s (PYBSIM_UPSTREAM_TIMEOUT); last lines:"
                grep -Ev '^ *WARN ' "$log" | tail -n 4 | sed 's/^/    /'
            elif [ "$f" = 0 ]; then
                # run-tests stopped without a summary (a crash, a missing module).
                echo "    run-tests.py exited with status $rc:"
                grep -Ev '^ *WARN ' "$log" | tail -n 5 | sed 's/^/    /'
            fi
        fi
    done
done

# The viper_*/native_* tests on their own, over all modes.
vp=0; vf=0; vs=0
for key in "${keys[@]}"; do
    log="$WORK/log-$key"
    vp=$((vp + $(grep -Ec '^pass +[^ ]*/(viper|native)_[^/ ]*\.py' "$log" || true)))
    vf=$((vf + $(grep -Ec '^FAIL +[^ ]*/(viper|native)_[^/ ]*\.py' "$log" || true)))
    vs=$((vs + $(grep -Ec '^skip +[^ ]*/(viper|native)_[^/ ]*\.py' "$log" || true)))
done
echo "upstream $FIRMWARE viper_*/native_* tests: $vp passed, $vf failed, $vs skipped"
echo "upstream $FIRMWARE: $tp passed, $tf failed, $ts skipped in $((SECONDS - start)) s (${MODES[*]}; $JOBS at a time)"
exit $status
