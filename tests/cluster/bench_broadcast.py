#!/usr/bin/python3
"""Broadcast time to the last client with the clients spread over several nodes behind nginx,
beside one node alone, on this box (issue 6's closing figure). Not a test: a measurement.

  HERALD_BIN=build/gateway/herald HERALD_BENCH=build/bench/herald-bench \\
  HERALD_TEST_MYSQL_URL=mysql://... [HERALD_MARIADB_DIR=...] \\
  tests/cluster/bench_broadcast.py [-n 18000] [--nodes 3] [--broadcasts 10] [--single]

Cluster mode: NODES daemons on one fresh MariaDB database and a redis-server, nginx (from
deploy/nginx/herald.conf, one worker per node) in front; herald-bench connects its N clients
through nginx (least_conn spreads them) and posts the transient broadcasts to node A's internal
listener, so every broadcast crosses Redis to the other nodes. --single: one daemon, no Redis,
no nginx, the clients straight on it. Prints herald-bench's summary, the clients per node,
and herald-bench's JSON line."""
import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
sys.path.insert(1, os.path.join(_here, "..", "integration"))

import herald_daemon  # noqa: E402
from cluster_nginx import ClusterNginx  # noqa: E402
from herald_cluster import Cluster, metric  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=18000)
    ap.add_argument("--nodes", type=int, default=3)
    ap.add_argument("--broadcasts", type=int, default=10)
    ap.add_argument("--single", action="store_true")
    args = ap.parse_args()
    binary, bench = os.environ.get("HERALD_BIN"), os.environ.get("HERALD_BENCH")
    url = os.environ.get("HERALD_TEST_MYSQL_URL")
    assert binary and bench and url, "set HERALD_BIN, HERALD_BENCH and HERALD_TEST_MYSQL_URL"
    dbs = herald_daemon.MysqlDatabases(url)
    work = tempfile.mkdtemp(prefix="herald-bench-cluster.")
    cluster, single, nginx = None, None, None
    peak = {}
    try:
        if args.single:
            single = herald_daemon.Herald(os.path.abspath(binary), work, dbs.fresh()).start(30)
            nodes, public, internal = [single], single.public_port, single.internal_port
        else:
            cluster = Cluster(os.path.abspath(binary), work, dbs.fresh()).start(args.nodes)
            nodes = cluster.nodes
            # Each proxied client is two connections in an nginx worker, and workers do not share
            # accepts evenly: give them twice the room an even spread would need.
            workers = 2 * args.nodes
            per_worker = args.n * 2 * 2 // workers + 1000
            nginx = ClusterNginx(work, nodes, workers=workers, worker_connections=per_worker,
                                 access_log=False).start()
            public, internal = nginx.public_port, nodes[0].internal_port

        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for n in nodes:
                    try:
                        peak[n.log_path] = max(peak.get(n.log_path, 0),
                                               int(metric(n, "herald_connections")))
                    except Exception:
                        pass
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        cmd = [os.path.abspath(bench), "--public", "127.0.0.1:%d" % public,
               "--internal", "127.0.0.1:%d" % internal, "--pid", str(nodes[0].proc.pid),
               "--jwt-secret", nodes[0].secret, "--api-key", nodes[0].api_key,
               "--scenarios", "connect,broadcast", "-n", str(args.n), "-u", str(args.n // 2),
               "--broadcasts", str(args.broadcasts), "--timeout", "120",
               "--label", "%s-%d" % ("single" if args.single else "cluster%d" % args.nodes, args.n)]
        print("$", " ".join(cmd), flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd)
        stop.set()
        sampler.join(2)
        print("herald-bench exited %d after %.0f s" % (rc, time.monotonic() - started))
        print("peak clients per node: %s" % [peak.get(n.log_path) for n in nodes])
        return rc
    finally:
        if nginx is not None:
            nginx.stop()
        if cluster is not None:
            cluster.stop()
        if single is not None:
            single.stop()
        dbs.drop_all()


if __name__ == "__main__":
    sys.exit(main())
