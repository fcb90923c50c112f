#!/usr/bin/env bash
# Full benchmark: builds Release, then for each store (SQLite, then MariaDB) and each size
# (N = 10,000 and 19,000) starts a fresh Herald and the Bun peer, runs every herald-bench
# scenario, appends the figures to bench/results.jsonl and rewrites bench/RESULTS.md.
# Two runs per store and size:
#   main:    floor, connect, broadcast (desktop), personal (persisted), reconnect, inbox, peer
#   variant: connect, broadcast (persisted), personal (transient: the Bun comparison), floor
#            (with the persisted broadcast's `notification` frame)
#
# Usage: bench/run.sh [--stores sqlite,mysql] [--sizes 10000,19000] [--no-build]
#                     [--quick] [-- extra herald-bench flags]
# Env:   BUILD_DIR (default build-release), PIN_DAEMON / PIN_WORKERS (CPU lists, e.g. 1 / 0),
#        HERALD_BENCH_RESULTS / HERALD_BENCH_RESULTS_MD (other files than bench/results.jsonl
#        and bench/RESULTS.md, for trial runs),
#        HERALD_BIN + HERALD_COMMIT (a herald built from another commit, e.g. an earlier one
#        in a git worktree, measured with this herald-bench; implies --no-build and records
#        the runs for the history table only, so the sections keep showing HEAD)
# Needs: the test packages (deploy/packages.sh), npm for the Bun peer (skipped without it).
# Run it on a quiet box: one heavy run at a time; it takes about 10 minutes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"

stores=sqlite,mysql
sizes=10000,19000
build=1
quick=0
extra=()
while [ $# -gt 0 ]; do
  case $1 in
    --stores) stores=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --quick) quick=1; shift ;;
    --) shift; extra=("$@"); break ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

build_dir=${BUILD_DIR:-$root/build-release}
history_args=()
if [ -n "${HERALD_BIN:-}" ]; then
  [ -n "${HERALD_COMMIT:-}" ] || { echo "run.sh: HERALD_BIN needs HERALD_COMMIT" >&2; exit 2; }
  build=0
  history_args=(--history-only)
fi
if [ "$build" = 1 ]; then
  cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DHERALD_BUILD_TESTS=OFF >/dev/null
  cmake --build "$build_dir" -j2 --target herald herald-bench
fi
herald_bin=${HERALD_BIN:-$build_dir/gateway/herald}
bench_bin=$build_dir/bench/herald-bench

peer_dir=$root/bench/peer
if [ ! -x "$peer_dir/node_modules/.bin/bun" ] && command -v npm >/dev/null; then
  (cd "$peer_dir" && npm install --no-audit --no-fund >/dev/null 2>&1) ||
    echo "run.sh: npm install of the Bun peer failed: the peer scenario is skipped" >&2
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/herald-bench-run.XXXXXX")
HERALD_PID="" PEER_PID=""
mariadb_started=0
cleanup() {
  set +e
  bench_stop "$PEER_PID" peer 2>/dev/null
  bench_stop "$HERALD_PID" herald 2>/dev/null
  [ "$mariadb_started" = 1 ] && herald_mariadb_stop "$work/mariadb" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

BENCH_JWT_SECRET=$(bench_random_hex)
BENCH_API_KEY=$(bench_random_hex)
export HERALD_JWT_SECRET=$BENCH_JWT_SECRET HERALD_API_KEY=$BENCH_API_KEY
# The load comes from 8 loopback addresses, ~2,400 clients each, reconnecting at once: the
# per-address cap on unauthenticated connections (a defence for public listeners) is off here.
export HERALD_MAX_CONNECTIONS_PER_IP=0
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
# With --no-build the binaries may predate HEAD: say so beside the commit.
[ "$build" = 1 ] || commit="$commit (HEAD at run time, binaries built earlier)"
# Engineers share the working tree: a build may include changes not yet committed.
if [ "$build" = 1 ] && ! git -C "$root" diff --quiet HEAD -- . ':(exclude)bench' 2>/dev/null; then
  commit="$commit + uncommitted changes ($(git -C "$root" diff --name-only HEAD -- . ':(exclude)bench' | tr '\n' ' ' | sed 's/ $//'))"
fi
[ -z "${HERALD_COMMIT:-}" ] || commit=$HERALD_COMMIT
pin_args=()
[ -n "${PIN_DAEMON:-}" ] && pin_args+=(--pin-daemon "$PIN_DAEMON")
[ -n "${PIN_WORKERS:-}" ] && pin_args+=(--pin-workers "$PIN_WORKERS")
if [ "$quick" = 1 ]; then
  load_args=(--broadcasts 5 --personal 2000 --inbox-requests 2000)
else
  load_args=(--broadcasts 20 --personal 60000 --inbox-requests 40000)
fi

failed=0
# run_bench STORE N VARIANT herald-bench-args...
run_bench() {
  local store=$1 n=$2 variant=$3
  shift 3
  local store_url
  if [ "$store" = sqlite ]; then store_url="sqlite:$work/herald-$n-$variant.db"; else store_url=$HERALD_TEST_MYSQL_URL; fi
  local load_before
  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  bench_start_herald "$herald_bin" "$store_url" "$work/herald.log"
  local peer_args=() scenarios=$1
  shift
  if [[ $scenarios == *peer* ]]; then
    if bench_start_peer "$peer_dir" "$work/peer.log"; then
      peer_args=(--peer-public "$PEER_PUBLIC" --peer-internal "$PEER_INTERNAL" --peer-pid "$PEER_PID")
    else
      scenarios=${scenarios/,peer/}
    fi
  fi
  local args=(--public "$HERALD_PUBLIC" --internal "$HERALD_INTERNAL" --pid "$HERALD_PID"
    -n "$n" -u $((n / 2)) --scenarios "$scenarios" --label "$store-$variant" "${load_args[@]}"
    "${pin_args[@]}" "$@" "${peer_args[@]}" "${extra[@]}")
  echo "=== $store N=$n $variant: herald-bench ${args[*]}" >&2
  local rc=0
  "$bench_bin" "${args[@]}" >"$work/bench.out" || rc=$?
  grep -v '^{' "$work/bench.out" || true
  if grep -q '^{' "$work/bench.out"; then
    # The command as written into RESULTS.md: ports and pids vary, secrets come from the env.
    grep '^{' "$work/bench.out" | tail -n 1 | python3 "$root/bench/results_md.py" add --store "$store" \
      --commit "$commit" --variant "$variant" --load-before "$load_before" "${history_args[@]}" \
      --command "herald-bench -n $n -u $((n / 2)) --scenarios $scenarios ${load_args[*]} ${pin_args[*]} $* ${extra[*]}"
  fi
  [ "$rc" = 0 ] || failed=1
  bench_stop "$PEER_PID" peer
  PEER_PID=""
  bench_stop "$HERALD_PID" herald
  HERALD_PID=""
}

IFS=, read -r -a store_list <<<"$stores"
IFS=, read -r -a size_list <<<"$sizes"
for store in "${store_list[@]}"; do
  if [ "$store" = mysql ] && [ "$mariadb_started" = 0 ]; then
    . "$root/deploy/lib/mariadb.sh"
    mkdir -p "$work/mariadb"
    herald_mariadb_start "$work/mariadb" >/dev/null
    mariadb_started=1
  fi
  for n in "${size_list[@]}"; do
    run_bench "$store" "$n" main connect,broadcast,personal,reconnect,inbox,floor,peer
    run_bench "$store" "$n" variant connect,broadcast,personal,floor --broadcast-persist --personal-transient
  done
done

python3 "$root/bench/results_md.py" render
echo "run.sh: wrote bench/RESULTS.md" >&2
exit "$failed"
