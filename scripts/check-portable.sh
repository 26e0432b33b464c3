#!/usr/bin/env bash
# Fails when a tracked file names a path that exists only on some machine: an absolute
# home or work directory, or a folder beside the repository (../shared and the like).
# The repository must work from any clone: tests read only what is inside it and what
# setup installs. Run by scripts/test.sh.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Absolute paths of development machines, and relative paths that leave the repository
# towards a sibling folder. This script names the patterns, so it is excluded.
pattern='(^|[^A-Za-z0-9_.])(/work/|/root/|/home/[A-Za-z]|/Users/[A-Za-z])|\.\./shared/'
hits="$(git ls-files -z -- . ':!scripts/check-portable.sh' ':!Cargo.lock' \
    | xargs -0 -r grep -n -I -E "$pattern" -- 2>/dev/null || true)"
if [ -n "$hits" ]; then
    echo "check-portable: these tracked lines name a path outside the repository:" >&2
    echo "$hits" >&2
    exit 1
fi
echo "check-portable: no tracked file names a machine path ($(git ls-files | wc -l) files)"
