#!/usr/bin/env bash
# Helpers shared by bench/smoke.sh and bench/run.sh: free ports, starting and stopping a Herald
# or the Bun peer on loopback, waiting for readiness. Source it.

bench_free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

bench_random_hex() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# Waits (up to $2 seconds, default 30) until http://$1 answers 200.
bench_wait_ready() {
  local url=$1 limit=${2:-30} i=0
  until curl -fs -o /dev/null "http://$url"; do
    i=$((i + 1))
    if [ "$i" -ge $((limit * 10)) ]; then return 1; fi
    sleep 0.1
  done
}

# bench_start_herald BIN STORE LOGFILE: starts Herald on two free loopback ports with the
# secrets in BENCH_JWT_SECRET / BENCH_API_KEY; sets HERALD_PID, HERALD_PUBLIC, HERALD_INTERNAL.
bench_start_herald() {
  local bin=$1 store=$2 log=$3
  HERALD_PUBLIC=127.0.0.1:$(bench_free_port)
  HERALD_INTERNAL=127.0.0.1:$(bench_free_port)
  "$bin" --public-addr "$HERALD_PUBLIC" --internal-addr "$HERALD_INTERNAL" \
    --jwt-secret "$BENCH_JWT_SECRET" --api-key "$BENCH_API_KEY" --store "$store" \
    --log-level warn >"$log" 2>&1 &
  HERALD_PID=$!
  if ! bench_wait_ready "$HERALD_INTERNAL/readyz" 60; then
    echo "bench: herald did not become ready; its log:" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
}

# bench_stop PID [NAME]: SIGTERM, then wait up to 15 s; prints the exit status.
bench_stop() {
  local pid=$1 name=${2:-process} i=0 rc=0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $i -lt 150 ]; do sleep 0.1; i=$((i + 1)); done
  if kill -0 "$pid" 2>/dev/null; then
    echo "bench: $name ($pid) still running 15 s after SIGTERM: killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || rc=$?
  echo "bench: $name exited with status $rc" >&2
}

# bench_start_peer PEERDIR LOGFILE: starts the Bun peer; sets PEER_PID, PEER_PUBLIC,
# PEER_INTERNAL. Returns 1 when Bun is not installed in PEERDIR/node_modules.
bench_start_peer() {
  local dir=$1 log=$2
  [ -x "$dir/node_modules/.bin/bun" ] || return 1
  PEER_PUBLIC=127.0.0.1:$(bench_free_port)
  PEER_INTERNAL=127.0.0.1:$(bench_free_port)
  HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY \
    PEER_PUBLIC_ADDR=$PEER_PUBLIC PEER_INTERNAL_ADDR=$PEER_INTERNAL \
    "$dir/node_modules/.bin/bun" "$dir/server.js" >"$log" 2>&1 &
  PEER_PID=$!
  if ! bench_wait_ready "$PEER_INTERNAL/readyz" 30; then
    echo "bench: the Bun peer did not start; its log:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
}
