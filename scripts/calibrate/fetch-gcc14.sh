#!/usr/bin/env bash
# Fetches GCC 14 for arm-none-eabi, for the calibration benchmark only (never for the
# build or the tests): Debian trixie's gcc-arm-none-eabi 14.2, binutils and newlib,
# unpacked into the git-ignored cache .cache/gcc14, nothing installed system-wide.
#
# Why: Embench IoT 2.0's reference cycle counts were measured with GCC 14.1; the
# machine's own cross compiler (Debian bookworm) is GCC 12.2, whose code differs.
# trixie's binaries need glibc 2.38, newer than bookworm's, so trixie's libc6 is
# unpacked beside them and every host binary is pointed at it with patchelf
# (interpreter and run path). Prints the path of arm-none-eabi-gcc on success.
#
# The Debian archive is the one this host's apt sources name (no host name here).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="$ROOT/.cache/gcc14"
GCC="$DEST/root/usr/bin/arm-none-eabi-gcc"
SUITE="trixie"
PKGS=(gcc-arm-none-eabi binutils-arm-none-eabi libnewlib-arm-none-eabi libnewlib-dev libc6)

if [ -x "$GCC" ] && [ -f "$DEST/.done" ]; then
    echo "$GCC"
    exit 0
fi
command -v patchelf >/dev/null || {
    echo "fetch-gcc14: patchelf is needed (apt-get install patchelf)" >&2
    exit 1
}

# The main Debian archive URI among the configured sources.
find_uri() {
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ {u=$2} /^Suites:/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+$/) s=1}
             /^$/ {if (u != "" && s) {print u; exit} u=""; s=0}
             END {if (u != "" && s) print u}' "$f" | head -n1 | grep . && return 0
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        grep -E '^[[:space:]]*deb[[:space:]]' "$f" | sed -E 's/\[[^]]*\]//' \
            | awk '$3 ~ /^[a-z]+$/ {print $2; exit}' | grep . && return 0
    done
    return 1
}
URI="$(find_uri)" || { echo "fetch-gcc14: no Debian archive URI in the apt sources" >&2; exit 1; }

APT="$DEST/apt"
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$DEST/debs"
echo "deb $URI $SUITE main" > "$APT/sources.list"
: > "$APT/status"
APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::State::Lists=$APT/lists"
    -o "Dir::State::status=$APT/status"
    -o "Dir::Cache=$APT/cache"
    -o "Debug::NoLocking=1"
)
echo "fetch-gcc14: updating a private apt index for $SUITE" >&2
apt-get "${APT_OPTS[@]}" update -q >/dev/null
(cd "$DEST/debs" && apt-get "${APT_OPTS[@]}" download -q "${PKGS[@]}" >&2 2>/dev/null) || {
    echo "fetch-gcc14: downloading ${PKGS[*]} from $SUITE failed" >&2
    exit 1
}
rm -rf "$DEST/root" "$DEST/libc"
for deb in "$DEST"/debs/*.deb; do
    case "$(basename "$deb")" in
        libc6_*) dpkg -x "$deb" "$DEST/libc" ;;
        *) dpkg -x "$deb" "$DEST/root" ;;
    esac
done
LIBDIR="$DEST/libc/usr/lib/x86_64-linux-gnu"
[ -f "$LIBDIR/ld-linux-x86-64.so.2" ] || { echo "fetch-gcc14: no loader in $LIBDIR" >&2; exit 1; }
n=0
while IFS= read -r -d '' f; do
    head -c 4 "$f" | grep -q 'ELF' || continue
    kind="$(file -b "$f")"
    case "$kind" in *x86-64*) ;; *) continue ;; esac
    case "$kind" in
        *executable* | *interpreter*)
            patchelf --set-interpreter "$LIBDIR/ld-linux-x86-64.so.2" --set-rpath "$LIBDIR" "$f"
            n=$((n + 1)) ;;
        *shared\ object*)
            patchelf --set-rpath "$LIBDIR" "$f" ;;
    esac
done < <(find "$DEST/root" -type f -print0)
"$GCC" --version | head -n1 >&2
echo "fetch-gcc14: $n host programs pointed at $SUITE's libc" >&2
touch "$DEST/.done"
echo "$GCC"
