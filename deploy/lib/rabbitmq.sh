#!/usr/bin/env bash
# A throwaway RabbitMQ node for tests: loopback only, non-default ports (AMQP, distribution and
# its own epmd), its data, logs, config and Erlang cookie in one temp dir, started as whoever
# runs it (root included). A system-wide RabbitMQ (the Debian package's service on 5672 and
# epmd on 4369) is left alone and does not collide with it.
#
# Sourced:   source deploy/lib/rabbitmq.sh; herald_rabbitmq_start [DIR]
#              # exports HERALD_TEST_AMQP_URL, HERALD_RABBITMQ_DIR
#            herald_rabbitmq_halt [DIR]     # stops the node, keeps its data (restart tests)
#            herald_rabbitmq_resume [DIR]   # starts it again on the same ports and data
#            herald_rabbitmq_ctl [DIR] ARGS # rabbitmqctl against the node
#            herald_rabbitmq_stop [DIR]     # stops it and removes the directory
# Executed:  deploy/lib/rabbitmq.sh start DIR | halt DIR | resume DIR | stop DIR | ctl DIR ARGS...
# Start-up takes several seconds (the Erlang VM): start one node per test session.

_herald_rabbitmq_libdir() {
  local d
  for d in /usr/lib/rabbitmq/bin /usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin; do
    if [ -x "$d/rabbitmq-server" ]; then echo "$d"; return 0; fi
  done
  echo "rabbitmq.sh: rabbitmq-server not found (install rabbitmq-server)" >&2
  return 1
}

_herald_rabbitmq_free_port() {
  local p
  for _ in $(seq 1 50); do
    p=$((32000 + RANDOM % 768))  # as in mariadb.sh: clear of the integration ports
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  echo "rabbitmq.sh: no free port found" >&2
  return 1
}

# The environment every rabbitmq command of the node in DIR runs with.
_herald_rabbitmq_env() {
  local dir=$1
  # shellcheck disable=SC1091
  . "$dir/ports"
  export HOME="$dir/home"  # the Erlang cookie lives here, private to this node
  export RABBITMQ_NODENAME="herald$AMQP_PORT@localhost"
  export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  export RABBITMQ_NODE_PORT="$AMQP_PORT"
  export RABBITMQ_DIST_PORT="$DIST_PORT"
  export ERL_EPMD_PORT="$EPMD_PORT"
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_MNESIA_BASE="$dir/mnesia"
  export RABBITMQ_LOG_BASE="$dir/log"
  export RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf"
  export RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins"
  export RABBITMQ_PID_FILE="$dir/rabbitmq.pid"
  export RABBITMQ_CONF_ENV_FILE="$dir/rabbitmq-env.conf"
  export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
  export RABBITMQ_CTL_DIST_PORT_MIN=$((DIST_PORT + 1)) RABBITMQ_CTL_DIST_PORT_MAX=$((DIST_PORT + 10))
}

herald_rabbitmq_ctl() {
  local dir=${HERALD_RABBITMQ_DIR:-}
  if [ $# -gt 0 ] && [ -d "$1" ]; then dir=$1; shift; fi
  local bin
  bin=$(_herald_rabbitmq_libdir) || return 1
  (_herald_rabbitmq_env "$dir" && "$bin/rabbitmqctl" -q "$@")
}

# Starts the node of DIR in the background and waits (60 s at most) until AMQP answers.
_herald_rabbitmq_launch() {
  local dir=$1 bin
  bin=$(_herald_rabbitmq_libdir) || return 1
  (
    _herald_rabbitmq_env "$dir"
    cd "$dir" || exit 1  # crash dumps (erl_crash.dump, MnesiaCore.*) land here
    "$bin/rabbitmq-server" </dev/null >>"$dir/server.out" 2>&1 &
    echo $! >"$dir/launcher.pid"
  )
  (
    _herald_rabbitmq_env "$dir"
    # On a loaded box the Erlang VM alone can take a minute.
    local limit=${HERALD_RABBITMQ_START_TIMEOUT:-180}
    timeout $((limit + 5)) "$bin/rabbitmqctl" -q wait "$dir/rabbitmq.pid" --timeout "$limit" \
      >/dev/null 2>>"$dir/server.out"
  ) || {
    # A node that did not answer in time is not left behind.
    [ -f "$dir/launcher.pid" ] && kill -KILL "$(cat "$dir/launcher.pid")" 2>/dev/null
    (_herald_rabbitmq_env "$dir" && epmd -kill >/dev/null 2>&1)
    echo "rabbitmq.sh: the node did not start; last lines of $dir/server.out and its log:" >&2
    tail -n 20 "$dir/server.out" >&2 2>/dev/null
    tail -n 20 "$dir"/log/*.log >&2 2>/dev/null
    return 1
  }
}

herald_rabbitmq_start() {
  local dir=${1:-}
  if [ -z "$dir" ]; then dir=$(mktemp -d "${TMPDIR:-/tmp}/herald-rabbitmq.XXXXXX") || return 1; fi
  mkdir -p "$dir/home" "$dir/mnesia" "$dir/log" || return 1
  local amqp dist epmd
  amqp=$(_herald_rabbitmq_free_port) || return 1
  dist=$amqp epmd=$amqp
  while [ "$dist" = "$amqp" ]; do dist=$(_herald_rabbitmq_free_port) || return 1; done
  while [ "$epmd" = "$amqp" ] || [ "$epmd" = "$dist" ]; do
    epmd=$(_herald_rabbitmq_free_port) || return 1
  done
  printf 'AMQP_PORT=%s\nDIST_PORT=%s\nEPMD_PORT=%s\n' "$amqp" "$dist" "$epmd" >"$dir/ports"
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/home/.erlang.cookie"
  chmod 600 "$dir/home/.erlang.cookie"
  echo "[]." >"$dir/enabled_plugins"
  : >"$dir/rabbitmq-env.conf"
  cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp.default = 127.0.0.1:$amqp
loopback_users.guest = true
log.console = false
log.file.level = warning
disk_free_limit.absolute = 10MB
EOF
  _herald_rabbitmq_launch "$dir" || return 1
  export HERALD_RABBITMQ_DIR="$dir"
  export HERALD_TEST_AMQP_URL="amqp://guest:guest@127.0.0.1:$amqp/%2f"
}

# Stops the node (data kept): rabbitmqctl stop, then the launcher and epmd are waited for.
herald_rabbitmq_halt() {
  local dir=${1:-${HERALD_RABBITMQ_DIR:-}} bin pid
  [ -n "$dir" ] && [ -f "$dir/ports" ] || return 0
  bin=$(_herald_rabbitmq_libdir) || return 1
  (_herald_rabbitmq_env "$dir" && timeout 30 "$bin/rabbitmqctl" -q stop >/dev/null 2>&1)
  if [ -f "$dir/launcher.pid" ]; then
    pid=$(cat "$dir/launcher.pid")
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null
    rm -f "$dir/launcher.pid"
  fi
  # The node's own epmd (started for its port only).
  (_herald_rabbitmq_env "$dir" && epmd -kill >/dev/null 2>&1; true)
  return 0
}

herald_rabbitmq_resume() {
  local dir=${1:-${HERALD_RABBITMQ_DIR:-}}
  _herald_rabbitmq_launch "$dir"
}

herald_rabbitmq_stop() {
  local dir=${1:-${HERALD_RABBITMQ_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir" ] || return 0
  herald_rabbitmq_halt "$dir"
  rm -rf "$dir"
  if [ "${HERALD_RABBITMQ_DIR:-}" = "$dir" ]; then unset HERALD_RABBITMQ_DIR HERALD_TEST_AMQP_URL; fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  case "${1:-}" in
    start) herald_rabbitmq_start "$2" && echo "$HERALD_TEST_AMQP_URL" ;;
    halt) herald_rabbitmq_halt "$2" ;;
    resume) herald_rabbitmq_resume "$2" ;;
    stop) herald_rabbitmq_stop "$2" ;;
    ctl) d=$2; shift 2; herald_rabbitmq_ctl "$d" "$@" ;;
    *) echo "usage: $0 start DIR | halt DIR | resume DIR | stop DIR | ctl DIR ARGS..." >&2; exit 2 ;;
  esac
fi
