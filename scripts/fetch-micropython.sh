#!/usr/bin/env bash
# Fetch the MicroPython 1.25.0 source from Debian's source package (trixie) into
# the git-ignored cache .cache/ at the repository root. Idempotent.
#
# The deb-src entry is derived from the Debian archive URI already configured
# on this host and written to a private apt configuration under .cache/apt;
# nothing under /etc is modified and no host name is stored in this repository.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache"
MP_VER="1.25.0"
ORIG_SHA256="7b25be99a502f070b2de81dafc08da7051d992325d6e67daa9045a918fffdbea"
DEST="$CACHE/micropython-$MP_VER"
SUITE="trixie"

if [ -f "$DEST/py/mpconfig.h" ] && [ -f "$DEST/.pybsim-orig-sha256" ] \
   && [ "$(cat "$DEST/.pybsim-orig-sha256")" = "$ORIG_SHA256" ]; then
    echo "micropython $MP_VER already unpacked in $DEST"
    exit 0
fi

APT="$CACHE/apt"
mkdir -p "$APT/sources.list.d" "$APT/lists/partial" "$APT/cache/archives/partial" "$CACHE/src"

# Find the main Debian archive URI among the configured sources (deb822 first,
# then one-line format). We want an entry whose suites include the plain
# release suite (e.g. "bookworm"), not -security or -updates only.
find_uri() {
    local f uri suites line
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        # Parse stanzas: blank line separates them.
        uri=""; suites=""
        while IFS= read -r line || [ -n "$line" ]; do
            case "$line" in
                URIs:*) uri="$(echo "${line#URIs:}" | awk '{print $1}')" ;;
                Suites:*) suites="${line#Suites:}" ;;
                "")
                    if [ -n "$uri" ] && echo " $suites " | grep -Eq ' [a-z]+ '; then
                        echo "$uri"; return 0
                    fi
                    uri=""; suites="" ;;
            esac
        done < "$f"
        if [ -n "$uri" ] && echo " $suites " | grep -Eq ' [a-z]+ '; then
            echo "$uri"; return 0
        fi
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [opts] URI SUITE COMPONENTS...
        line="$(grep -E '^[[:space:]]*deb(-src)?[[:space:]]' "$f" \
                | sed -E 's/\[[^]]*\]//' \
                | awk '$3 ~ /^[a-z]+$/ {print $2; exit}')"
        if [ -n "$line" ]; then echo "$line"; return 0; fi
    done
    return 1
}

URI="$(find_uri)" || { echo "error: no Debian archive URI found in apt sources" >&2; exit 1; }

cat > "$APT/sources.list.d/micropython-src.sources" <<SRC
Types: deb-src
URIs: $URI
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
: > "$APT/sources.list"

APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT/sources.list"
    -o "Dir::Etc::SourceParts=$APT/sources.list.d"
    -o "Dir::State::Lists=$APT/lists"
    -o "Dir::Cache=$APT/cache"
    -o "Debug::NoLocking=1"
)

find_orig() {
    ls "$CACHE/src"/micropython_"$MP_VER"*.orig.tar.* 2>/dev/null | head -n1 || true
}

ORIG="$(find_orig)"
if [ -z "$ORIG" ]; then
    echo "updating private apt index for $SUITE sources"
    apt-get "${APT_OPTS[@]}" update -q >/dev/null
    VERSION="$(apt-cache "${APT_OPTS[@]}" showsrc micropython \
               | awk '/^Version:/ {print $2}' | grep -E "^([0-9]+:)?$MP_VER" | sort -V | tail -n1)"
    if [ -z "$VERSION" ]; then
        echo "error: micropython $MP_VER not found in Debian $SUITE sources" >&2
        exit 1
    fi
    echo "downloading micropython=$VERSION source"
    (cd "$CACHE/src" && apt-get "${APT_OPTS[@]}" source --download-only -q "micropython=$VERSION")
    ORIG="$(find_orig)"
    [ -n "$ORIG" ] || { echo "error: orig tarball not downloaded" >&2; exit 1; }
fi

GOT="$(sha256sum "$ORIG" | awk '{print $1}')"
if [ "$GOT" != "$ORIG_SHA256" ]; then
    echo "error: SHA-256 mismatch for $ORIG" >&2
    echo "  expected $ORIG_SHA256" >&2
    echo "  got      $GOT" >&2
    exit 1
fi
echo "verified $(basename "$ORIG") sha256 $GOT"

TMP="$CACHE/unpack.$$"
rm -rf "$TMP"
mkdir -p "$TMP"
tar -xf "$ORIG" -C "$TMP"
TOP="$(find "$TMP" -mindepth 1 -maxdepth 1 -type d | head -n1)"
[ -n "$TOP" ] && [ -f "$TOP/py/mpconfig.h" ] || { echo "error: unexpected tarball layout" >&2; exit 1; }
rm -rf "$DEST"
mv "$TOP" "$DEST"
rm -rf "$TMP"
echo "$ORIG_SHA256" > "$DEST/.pybsim-orig-sha256"
echo "micropython $MP_VER unpacked in $DEST"
