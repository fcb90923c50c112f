#!/usr/bin/env python3
"""Count and inbox-page latency of one user with many shared items addressed to others.

One user in 6 groups (org/7, role/3, job/2, team/a, site/x, all/x) with 65 items of their own;
then SHARED group items for other orgs (org/1000 .. org/1000+ORGS) and BROADCASTS broadcasts are
added through POST /v1/notify/batch. Sequential GET /v1/inbox/unread_count and GET /v1/inbox
(limit 20) are timed before and after, p50/p99 over REQUESTS each.

Usage: bench/scale_counts.py HERALD_BIN STORE [SHARED [BROADCASTS [ORGS [REQUESTS]]]]
  STORE: sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB (an empty database).
Example: bench/scale_counts.py build/gateway/herald sqlite:/tmp/scale.db 21000 1000 2000 400
"""
import os
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import herald_daemon  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def timed(d, token, path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = d.public("GET", path, token=token)
        out.append(time.perf_counter() - t)
        assert r.status == 200, r
    return out


def main():
    binary, store = sys.argv[1], sys.argv[2]
    shared = int(sys.argv[3]) if len(sys.argv) > 3 else 21000
    broadcasts = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    orgs = int(sys.argv[5]) if len(sys.argv) > 5 else 2000
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 400
    work = tempfile.mkdtemp(prefix="herald-scale-")
    d = herald_daemon.Herald(os.path.abspath(binary), work, store)
    d.start()
    try:
        uid = 777
        token = d.token(uid, ["org/7", "role/3", "job/2", "team/a", "site/x", "all/x"])
        batch = [{"user_id": uid, "title": "own %d" % i} for i in range(60)]
        batch += [{"audience": a, "title": "mine"} for a in ("org/7", "role/3/org/7", "job/2",
                                                             "all/x", "team/a/site/x")]
        assert d.internal("POST", "/v1/notify/batch", {"notifications": batch}).status == 200
        assert d.unread(token) == 65
        before = {p: timed(d, token, p, n) for p in ("/v1/inbox/unread_count", "/v1/inbox")}
        items = [{"audience": "org/%d/role/%d" % (1000 + i % orgs, i % 20), "title": "other"}
                 for i in range(shared)]
        items += [{"user_id": -1, "title": "everyone"} for _ in range(broadcasts)]
        for at in range(0, len(items), 1000):
            r = d.internal("POST", "/v1/notify/batch", {"notifications": items[at:at + 1000]},
                           timeout=120)
            assert r.status == 200, r
        assert d.unread(token) == 65 + broadcasts
        after = {p: timed(d, token, p, n) for p in ("/v1/inbox/unread_count", "/v1/inbox")}
        load = os.getloadavg()[0]
        for label, res in (("65 items", before), ("+%d shared" % (shared + broadcasts), after)):
            for p, xs in res.items():
                print("%-28s %-24s p50 %7.2f ms  p99 %7.2f ms  (load %.1f)"
                      % (p, label, pct(xs, 0.5), pct(xs, 0.99), load))
    finally:
        d.stop()


if __name__ == "__main__":
    main()
