#!/usr/bin/env bash
# Throwaway MariaDB servers for tests: a private data directory, loopback TCP only, a user
# `herald` with a random password and a database `herald_test`. Source this file, then:
#
#   herald_mariadb_start [DIR [PORT]]  # creates and starts; exports HERALD_TEST_MYSQL_URL,
#                                      # HERALD_MARIADB_DIR, HERALD_MARIADB_PORT
#   herald_mariadb_halt [DIR]          # stops the server, keeps its data (restart tests)
#   herald_mariadb_resume [DIR]        # starts it again on the same port with the same data
#   herald_mariadb_stop [DIR]          # stops it and removes the directory
#
# Works as root (CI) or as any user, without a terminal; needs mariadb-server and
# mariadb-client (deploy/packages.sh, test set). Nothing here touches a system-wide server.

_herald_mariadb_bin() {
  local name
  for name in "$@"; do
    if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
    if [ -x "/usr/sbin/$name" ]; then echo "/usr/sbin/$name"; return 0; fi
  done
  echo "mariadb.sh: none of $* found (install mariadb-server mariadb-client)" >&2
  return 1
}

_herald_mariadb_free_port() {
  local port tries=0
  while [ $tries -lt 50 ]; do
    # Below the kernel's ephemeral range (32768 and up), so no client socket holds it, and
    # above the ports the integration passes hand out (20000-31999), which run beside it.
    port=$(( 32000 + RANDOM % 768 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    tries=$((tries + 1))
  done
  echo "mariadb.sh: no free port found" >&2
  return 1
}

# Starts mariadbd on DIR's data and waits (60 s at most) until it answers.
_herald_mariadb_launch() {
  local dir=$1 port user mariadbd admin
  port=$(cat "$dir/port")
  user=$(id -un)
  mariadbd=$(_herald_mariadb_bin mariadbd mysqld) || return 1
  admin=$(_herald_mariadb_bin mariadb-admin mysqladmin) || return 1
  "$mariadbd" --no-defaults --datadir="$dir/data" --user="$user" \
    --socket="$dir/mysqld.sock" --port="$port" --bind-address=127.0.0.1 \
    --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --skip-name-resolve \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_bin \
    --innodb-buffer-pool-size=64M --innodb-log-file-size=64M --max-connections=400 \
    --innodb-flush-log-at-trx-commit=1 </dev/null >/dev/null 2>&1 &
  echo $! >"$dir/launcher.pid"
  local deadline=$(( $(date +%s) + 60 ))
  until "$admin" --no-defaults --protocol=socket --socket="$dir/mysqld.sock" -u"$user" \
      ping >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ] || ! kill -0 "$(cat "$dir/launcher.pid")" 2>/dev/null; then
      echo "mariadb.sh: mariadbd did not start; last lines of $dir/error.log:" >&2
      tail -n 20 "$dir/error.log" >&2 2>/dev/null
      return 1
    fi
    sleep 0.2
  done
}

herald_mariadb_start() {
  local dir=${1:-} port=${2:-} user install client password
  if [ -z "$dir" ]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-mariadb.XXXXXX") || return 1; fi
  mkdir -p "$dir" || return 1
  [ -n "$port" ] || port=$(_herald_mariadb_free_port) || return 1
  echo "$port" >"$dir/port"
  touch "$dir/.herald-mariadb"
  user=$(id -un)
  install=$(_herald_mariadb_bin mariadb-install-db mysql_install_db) || return 1
  client=$(_herald_mariadb_bin mariadb mysql) || return 1
  # The OS user running this script becomes the server's socket-authenticated superuser.
  if ! "$install" --no-defaults --datadir="$dir/data" --user="$user" \
      --auth-root-authentication-method=socket --auth-root-socket-user="$user" \
      --skip-test-db >"$dir/install.log" 2>&1; then
    echo "mariadb.sh: mariadb-install-db failed:" >&2
    tail -n 20 "$dir/install.log" >&2
    return 1
  fi
  local explicit=${2:-} attempts=0
  until _herald_mariadb_launch "$dir"; do
    # A free port can be taken between the check and the bind: pick another one.
    if [ -z "$explicit" ] && [ $attempts -lt 5 ] &&
        grep -q "Address already in use" "$dir/error.log" 2>/dev/null; then
      attempts=$((attempts + 1))
      port=$(_herald_mariadb_free_port) || return 1
      echo "$port" >"$dir/port"
      echo "mariadb.sh: the port was taken meanwhile; retrying on $port" >&2
      : >"$dir/error.log"
      continue
    fi
    return 1
  done
  password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  "$client" --no-defaults --protocol=socket --socket="$dir/mysqld.sock" -u"$user" <<SQL || return 1
CREATE DATABASE IF NOT EXISTS herald_test CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER IF NOT EXISTS 'herald'@'127.0.0.1' IDENTIFIED BY '$password';
CREATE USER IF NOT EXISTS 'herald'@'localhost' IDENTIFIED BY '$password';
GRANT ALL PRIVILEGES ON herald_test.* TO 'herald'@'127.0.0.1';
GRANT ALL PRIVILEGES ON herald_test.* TO 'herald'@'localhost';
FLUSH PRIVILEGES;
SQL
  export HERALD_MARIADB_DIR=$dir
  export HERALD_MARIADB_PORT=$port
  export HERALD_TEST_MYSQL_URL="mysql://herald:$password@127.0.0.1:$port/herald_test"
  echo "$HERALD_TEST_MYSQL_URL" >"$dir/url"
  echo "HERALD_TEST_MYSQL_URL=$HERALD_TEST_MYSQL_URL"
}

herald_mariadb_halt() {
  local dir=${1:-${HERALD_MARIADB_DIR:-}} pid
  [ -n "$dir" ] && [ -f "$dir/.herald-mariadb" ] || { echo "mariadb.sh: no server dir" >&2; return 1; }
  pid=$(cat "$dir/mysqld.pid" 2>/dev/null || cat "$dir/launcher.pid" 2>/dev/null)
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  local deadline=$(( $(date +%s) + 30 ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then kill -9 "$pid" 2>/dev/null; break; fi
    sleep 0.1
  done
  rm -f "$dir/mysqld.pid"
}

herald_mariadb_resume() {
  local dir=${1:-${HERALD_MARIADB_DIR:-}}
  [ -n "$dir" ] && [ -f "$dir/.herald-mariadb" ] || { echo "mariadb.sh: no server dir" >&2; return 1; }
  _herald_mariadb_launch "$dir"
}

herald_mariadb_stop() {
  local dir=${1:-${HERALD_MARIADB_DIR:-}}
  [ -n "$dir" ] && [ -f "$dir/.herald-mariadb" ] || return 0
  herald_mariadb_halt "$dir"
  rm -rf "$dir"
}
