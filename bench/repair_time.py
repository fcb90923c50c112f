#!/usr/bin/env python3
"""Repair time after a Redis outage, on two Herald nodes sharing one MariaDB and one Redis.

N WebSocket connections are held, half on each node (N/2 users, each with one socket on both
nodes). Personal notifies to random users go through random nodes the whole time; Redis is
stopped for --outage-s seconds, and during the outage one broadcast goes through each node (so
that every socket misses an item published on the other node). Then Redis is started again.
Measured from the moment redis-server answers again to the moment the last socket holds every
item addressed to it that was created during the outage (the bus's own reconnect backoff is
part of it). Every socket is also checked for the delivery rules: every item created while it
was connected arrives, none twice, ids increasing. Prints one JSON line (and the checks fail
the run with exit status 1).

Needs HERALD_BIN and HERALD_TEST_MYSQL_URL (bench/repair_time.sh starts a MariaDB when unset).
The client holds N sockets in one process: N must stay below its descriptor limit."""
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import struct
import sys
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "cluster"))
sys.path.insert(1, os.path.join(here, "..", "tests", "integration"))

import herald_daemon  # noqa: E402
from herald_cluster import Cluster, readyz, wait_until  # noqa: E402


class Sock:
    __slots__ = ("user", "node", "reader", "writer", "arrivals", "ids", "opened_at", "closed", "pump")

    def __init__(self, user, node):
        self.user, self.node = user, node
        self.arrivals = {}  # id -> monotonic time of its first arrival
        self.ids = []       # every notification id, in arrival order
        self.closed = None  # why the socket ended, if it did


async def read_frame(reader):
    h = await reader.readexactly(2)
    op, n = h[0] & 0x0F, h[1] & 0x7F
    if n == 126:
        n = struct.unpack("!H", await reader.readexactly(2))[0]
    elif n == 127:
        n = struct.unpack("!Q", await reader.readexactly(8))[0]
    return op, await reader.readexactly(n)


async def open_sock(s, token, port, sem):
    async with sem:
        r, w = await asyncio.open_connection(herald_daemon.HOST, port)
        key = base64.b64encode(os.urandom(16)).decode()
        w.write(("GET /v1/ws?token=%s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                 % (token, key)).encode())
        head = await r.readuntil(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise RuntimeError("upgrade refused: %r" % head[:200])
        s.reader, s.writer = r, w
        while True:  # the count frame comes first
            op, payload = await read_frame(r)
            if op == 1 and json.loads(payload).get("type") == "count":
                break
        s.opened_at = time.monotonic()
    # Read (and answer keep-alive pings) from now on: the ramp of N connections takes long.
    s.pump = asyncio.ensure_future(pump(s))


async def pump(s):
    try:
        while True:
            op, payload = await read_frame(s.reader)
            if op == 8:
                s.closed = "close %d" % (struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005)
                break
            if op == 9:  # the server's keep-alive: answer it, masked as a client must
                mask = os.urandom(4)
                body = bytes(c ^ mask[k % 4] for k, c in enumerate(payload))
                s.writer.write(bytes([0x8A, 0x80 | len(body)]) + mask + body)
                continue
            if op != 1:
                continue
            f = json.loads(payload)
            if f.get("type") == "notification":
                i = f["notification"]["id"]
                s.ids.append(i)
                s.arrivals.setdefault(i, time.monotonic())
    except (asyncio.IncompleteReadError, ConnectionError) as e:
        s.closed = s.closed or type(e).__name__


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000, help="connections (half per node)")
    ap.add_argument("--outage-s", type=float, default=5.0)
    ap.add_argument("--rate", type=float, default=50.0, help="personal notifies per second")
    ap.add_argument("--settle-s", type=float, default=60.0, help="longest wait for the repair")
    ap.add_argument("--threads", type=int, default=2, help="daemon I/O threads per node")
    args = ap.parse_args()
    binary, url = os.environ.get("HERALD_BIN"), os.environ.get("HERALD_TEST_MYSQL_URL")
    if not binary or not url:
        sys.exit("repair_time: set HERALD_BIN and HERALD_TEST_MYSQL_URL")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.n + 200 > hard:
        sys.exit("repair_time: %d connections need more than the descriptor limit %d" % (args.n, hard))

    import tempfile
    work = tempfile.mkdtemp(prefix="herald-repair.")
    dbs = herald_daemon.MysqlDatabases(url)
    cl = Cluster(binary, work, dbs.fresh())
    extra = {"HERALD_MAX_CONNECTIONS_PER_IP": "0", "HERALD_THREADS": str(args.threads),
             "HERALD_LOG_LEVEL": "warn"}
    # The nodes read their settings when started: the cluster's add_node, with these added.
    cl.add_node = lambda wait=True: _add(cl, binary, extra, wait)
    failed = True
    try:
        cl.start(nodes=2)
        a, b = cl.nodes
        result = asyncio.run(run(cl, a, b, args))
        print(json.dumps(result))
        failed = bool(result["problems"])
    finally:
        cl.stop(failed=failed)
        dbs.drop_all()
    sys.exit(1 if failed else 0)


def _add(cl, binary, extra, wait):
    from herald_daemon import Herald
    name = "node-%s" % "abcdefgh"[len(cl.nodes)]
    env = {"HERALD_BUS": cl.redis.url, "HERALD_NODE_ID": name}
    env.update(extra)
    d = Herald(binary, cl.workdir, cl.store, env=env)
    d.name = name
    cl.nodes.append(d)
    return d.start(ready_timeout=30, wait=wait)


async def run(cl, a, b, args):
    base = random.randint(10_000, 1_000_000) * 1000
    users = [base + i for i in range(max(1, args.n // 2))]
    socks = []
    sem = asyncio.Semaphore(256)
    t0 = time.monotonic()
    tasks = []
    for u in users:
        for node in (a, b):
            s = Sock(u, node.name)
            socks.append(s)
            tasks.append(open_sock(s, node.token(u), node.public_port, sem))
    await asyncio.gather(*tasks)
    connect_s = time.monotonic() - t0
    pumps = [s.pump for s in socks]

    sent = []  # (id, user or None for everyone, created_at)
    lock = threading.Lock()
    stop = threading.Event()

    def load(seed):
        rng = random.Random(seed)
        nodes = [a, b]
        while not stop.is_set():
            t = time.monotonic()
            u = rng.choice(users)
            try:
                r = rng.choice(nodes).internal("POST", "/v1/notify", {"user_id": u, "title": "repair load"},
                                               timeout=10)
            except OSError:
                continue
            if r.status == 200:
                with lock:
                    sent.append((r.json["id"], u, t))
            time.sleep(max(0.0, 2.0 / args.rate - (time.monotonic() - t)))

    loop = asyncio.get_running_loop()
    loaders = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(2)]
    for t in loaders:
        t.start()
    await asyncio.sleep(2.0)
    down_at = time.monotonic()
    await loop.run_in_executor(None, cl.redis.stop)
    await asyncio.sleep(args.outage_s / 3)
    for node in (a, b):  # a broadcast through each node while the bus is down
        t = time.monotonic()
        r = await loop.run_in_executor(None, lambda n=node: n.notify(user_id=-1, title="during the outage"))
        if r.status == 200:
            with lock:
                sent.append((r.json["id"], None, t))
    await asyncio.sleep(args.outage_s - (time.monotonic() - down_at))
    await loop.run_in_executor(None, cl.redis.start)
    back_at = time.monotonic()
    ready = {}
    while len(ready) < 2 and time.monotonic() - back_at < 60:
        for node in (a, b):
            if node.name not in ready and await loop.run_in_executor(None, readyz, node) == 200:
                ready[node.name] = round(time.monotonic() - back_at, 3)
        await asyncio.sleep(0.05)
    await asyncio.sleep(2.0)
    stop.set()
    await loop.run_in_executor(None, lambda: [t.join(15) for t in loaders])
    with lock:
        items = list(sent)
    outage_items = [(i, u) for i, u, t in items if down_at <= t < back_at]

    def index(pool):
        by_user, everyone = {}, []
        for i, u in pool:
            (everyone if u is None else by_user.setdefault(u, [])).append(i)
        return lambda s: by_user.get(s.user, []) + everyone

    everything = [(i, u) for i, u, _ in items]
    wanted, wanted_in_outage = index(everything), index(outage_items)
    # Wait for the repair: every socket holds every item addressed to it.
    deadline = time.monotonic() + args.settle_s
    while time.monotonic() < deadline:
        if all(all(i in s.arrivals for i in wanted(s)) for s in socks):
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)

    problems = []
    repaired = []
    for s in socks:
        want = sorted(wanted(s))
        got = s.ids
        missing = sorted(set(want) - set(got))
        if s.closed:
            problems.append((s.user, s.node, "closed", s.closed))
        if missing:
            problems.append((s.user, s.node, "missing", missing[:5]))
        if len(got) != len(set(got)):
            problems.append((s.user, s.node, "duplicates", len(got) - len(set(got))))
        if got != sorted(got):
            problems.append((s.user, s.node, "out of order"))
        mine = wanted_in_outage(s)
        if mine and not missing:
            repaired.append(max(0.0, max(s.arrivals[i] for i in mine) - back_at))
    for p in pumps:
        p.cancel()
    for s in socks:
        s.writer.close()
    repaired.sort()

    def pct(q):
        return round(repaired[min(len(repaired) - 1, int(q * len(repaired)))], 3) if repaired else None

    return {
        "bench": "repair_time", "connections": len(socks), "nodes": 2, "outage_s": args.outage_s,
        "connect_s": round(connect_s, 1), "items": len(items), "outage_items": len(outage_items),
        "ready_after_s": ready, "sockets_repaired": len(repaired),
        "repair_p50_s": pct(0.5), "repair_p99_s": pct(0.99), "repair_max_s": pct(1.0),
        "problems": len(problems), "problem_examples": problems[:5],
        "closed": _tally(s.closed for s in socks if s.closed),
        "load": open("/proc/loadavg").read().split()[:3],
    }


def _tally(values):
    out = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


if __name__ == "__main__":
    main()
