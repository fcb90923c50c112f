#!/usr/bin/env bash
# A throwaway redis-server on loopback for tests: no persistence, its own temp dir, started
# as whoever runs it (root included).
#
# Sourced:   source deploy/lib/redis.sh; herald_redis_start   # exports HERALD_TEST_REDIS_URL
#            ...; herald_redis_stop
# Executed:  deploy/lib/redis.sh start DIR PORT   # prints the redis:// URL once it answers
#            deploy/lib/redis.sh stop DIR
#            deploy/lib/redis.sh free-port

herald_redis_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((32000 + RANDOM % 768))  # as in mariadb.sh: clear of the integration ports
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# herald_redis_start_in DIR PORT: starts a server keeping its pid, log and socket in DIR.
herald_redis_start_in() {
  local dir="$1" port="$2"
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --protected-mode no --dir "$dir" \
    --save '' --appendonly no --daemonize yes --pidfile "$dir/redis.pid" \
    --logfile "$dir/redis.log" --loglevel warning >/dev/null || return 1
  for _ in $(seq 1 100); do
    if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = "PONG" ]; then
      echo "$port" >"$dir/port"
      echo "redis://127.0.0.1:$port"
      return 0
    fi
    sleep 0.05
  done
  echo "redis-server on port $port did not answer; log: $dir/redis.log" >&2
  return 1
}

# herald_redis_stop_in DIR: stops the server started in DIR and waits until it is gone.
herald_redis_stop_in() {
  local dir="$1" pid
  [ -f "$dir/redis.pid" ] || return 0
  pid="$(cat "$dir/redis.pid")"
  kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/redis.pid"; return 0; }
    sleep 0.05
  done
  kill -KILL "$pid" 2>/dev/null
  rm -f "$dir/redis.pid"
}

herald_redis_start() {
  local port url
  HERALD_TEST_REDIS_DIR="$(mktemp -d -t herald-redis.XXXXXX)" || return 1
  port="$(herald_redis_free_port)" || return 1
  url="$(herald_redis_start_in "$HERALD_TEST_REDIS_DIR" "$port")" || return 1
  export HERALD_TEST_REDIS_DIR
  export HERALD_TEST_REDIS_URL="$url"
}

herald_redis_stop() {
  [ -n "${HERALD_TEST_REDIS_DIR:-}" ] || return 0
  herald_redis_stop_in "$HERALD_TEST_REDIS_DIR"
  rm -rf "$HERALD_TEST_REDIS_DIR"
  unset HERALD_TEST_REDIS_DIR HERALD_TEST_REDIS_URL
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  case "${1:-}" in
    start) herald_redis_start_in "$2" "$3" ;;
    stop) herald_redis_stop_in "$2" ;;
    free-port) herald_redis_free_port ;;
    *) echo "usage: $0 start DIR PORT | stop DIR | free-port" >&2; exit 2 ;;
  esac
fi
