#!/usr/bin/env bash
# Herald's start command: installs what is missing, builds a Release binary, and starts Herald
# in --dev mode on SQLite with the demo page. Ctrl-C (SIGINT) drains and stops it.
#   Demo page:     http://localhost:8080/
#   Admin console: http://127.0.0.1:8081/admin
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. deploy/packages.sh
install_packages build
cmake -S . -B build-run -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF -DHERALD_BUILD_BENCH=OFF >/dev/null
cmake --build build-run --target herald -j"$(nproc 2>/dev/null || echo 2)"

export HERALD_JWT_SECRET="${HERALD_JWT_SECRET:-dev-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export HERALD_API_KEY="${HERALD_API_KEY:-dev-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export HERALD_STORE="${HERALD_STORE:-sqlite:$root/herald-dev.db}"
public="${HERALD_PUBLIC_ADDR:-0.0.0.0:8080}"
internal="${HERALD_INTERNAL_ADDR:-127.0.0.1:8081}"
pport="${public##*:}"
iport="${internal##*:}"
key="${HERALD_API_KEY%%,*}"
cat <<TXT

Herald (dev mode) is starting.
  Demo page:      http://localhost:$pport/   (mint a token for any user in its dev panel)
  Admin console:  http://127.0.0.1:$iport/admin   (API key: $key)

Try it:
  # a token for user 42 (dev mode only)
  curl -s -X POST localhost:$pport/v1/dev/token -d '{"user_id":42,"groups":["org/1"]}'
  # notify user 42, then a broadcast
  curl -s -H "Authorization: Bearer $key" 127.0.0.1:$iport/v1/notify -d '{"user_id":42,"title":"Order shipped"}'
  curl -s -H "Authorization: Bearer $key" 127.0.0.1:$iport/v1/notify -d '{"user_id":-1,"title":"Maintenance at 22:00"}'
  # what is online
  curl -s -H "Authorization: Bearer $key" 127.0.0.1:$iport/v1/stats

TXT
exec build-run/gateway/herald --dev --public-addr "$public" --internal-addr "$internal"
