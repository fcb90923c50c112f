#!/usr/bin/env bash
# Runs a command with a throwaway MariaDB: HERALD_TEST_MYSQL_URL and HERALD_MARIADB_DIR are
# exported for it, and the server is removed afterwards whatever happens.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../deploy/lib/mariadb.sh"
dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-mariadb.XXXXXX")
trap 'herald_mariadb_stop "$dir"' EXIT
herald_mariadb_start "$dir" >/dev/null || exit 1
"$@"
