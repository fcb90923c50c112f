#!/usr/bin/env bash
# Browser end-to-end tests: starts herald (HERALD_BIN) on free loopback ports with a temp SQLite
# store in --dev mode, drives Debian's chromium with playwright-core, tears everything down.
# Usage: HERALD_BIN=build/gateway/herald tests/browser/run.sh [test-name-filter]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

: "${HERALD_BIN:?set HERALD_BIN to the herald binary}"
HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export HERALD_BIN
export HERALD_ARTIFACTS="${HERALD_ARTIFACTS:-$repo/build/artifacts}"
export HERALD_WEB_ROOT="${HERALD_WEB_ROOT:-$repo/web}"
[ -x /usr/bin/chromium ] || { echo "browser tests need Debian's chromium (/usr/bin/chromium)" >&2; exit 2; }

cd "$here"
if [ ! -f node_modules/playwright-core/package.json ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund; else npm install --no-audit --no-fund; fi
fi

HERALD_TEST_TMP="$(mktemp -d)"
export HERALD_TEST_TMP
cleanup() {
  # The node runner stops herald itself; this catches a runner that was killed.
  for pidfile in "$HERALD_TEST_TMP"/*/herald.pid; do
    [ -f "$pidfile" ] || continue
    pid="$(cat "$pidfile")"
    if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$HERALD_BIN" ]; then kill -9 "$pid" 2>/dev/null || true; fi
  done
  rm -rf "$HERALD_TEST_TMP"
}
trap cleanup EXIT

node run_all.mjs "$@"
