#!/usr/bin/env bash
# Install the host packages needed to fetch and build the pybsim firmware, and the
# tools the test suite checks pybsim's outputs with (sigrok-cli and GTKWave's vcd2fst
# read the VCD traces, xmllint validates the JUnit reports), skipping those already
# present.
set -euo pipefail

PKGS=(gcc-arm-none-eabi libnewlib-arm-none-eabi cmake libclang-dev python3 xz-utils make tmux dpkg-dev
      sigrok-cli gtkwave libxml2-utils)
MISSING=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        MISSING+=("$p")
    fi
done
if [ "${#MISSING[@]}" -eq 0 ]; then
    echo "all build dependencies present"
    exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "installing: ${MISSING[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${MISSING[@]}"
