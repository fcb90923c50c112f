#!/usr/bin/env bash
# Queue tests: the real daemon consuming RabbitMQ (a private node from deploy/lib/rabbitmq.sh,
# started once for the session) and Redis Streams (deploy/lib/redis.sh), SQLite stores and one
# MariaDB (deploy/lib/mariadb.sh) for the frozen-store and two-node tests.
# Env: HERALD_BIN (required); HERALD_QUEUE_TEST_N (messages per volume test, default 2000);
# HERALD_ARTIFACTS (optional, JUnit XML). Extra arguments go to pytest (-k NAME, -x).
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ -z "${HERALD_BIN:-}" ] || [ ! -x "${HERALD_BIN}" ]; then
  echo "run.sh: set HERALD_BIN to the herald executable" >&2
  exit 2
fi
HERALD_BIN="$(cd "$(dirname "$HERALD_BIN")" && pwd)/$(basename "$HERALD_BIN")"
export HERALD_BIN PYTHONDONTWRITEBYTECODE=1
extra=()
if [ -n "${HERALD_ARTIFACTS:-}" ]; then
  mkdir -p "$HERALD_ARTIFACTS"
  extra+=("--junitxml=$HERALD_ARTIFACTS/queues.xml")
fi
exec /usr/bin/python3 -m pytest "$here" -p no:cacheprovider -q -rfE "${extra[@]}" "$@"
