#!/usr/bin/env python3
"""EXPLAIN of the count's shared-counter statements on a seeded store (bench/seed_scale.py),
as persistence/README.md shows them: SQLite `EXPLAIN QUERY PLAN`, MariaDB `EXPLAIN`.

Usage: bench/explain_counts.py STORE
  STORE: sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB (seeded).
"""
import subprocess
import sqlite3
import sys
import time
import urllib.parse

NOW = int(time.time() * 1000)
AUDS = ["org/7", "org/7/role/7", "job/7/org/7", "job/7/role/7", "job/7/org/7/role/7"]


def statements(sqlite):
    live_from = ("notifications a INDEXED BY ix_notifications_live" if sqlite
                 else "notifications a FORCE INDEX (ix_notifications_live)")
    aud_from = ("notifications n INDEXED BY ix_notifications_audience" if sqlite
                else "notifications n FORCE INDEX (ix_notifications_audience)")
    q = lambda xs: ", ".join("'%s'" % x for x in xs)  # noqa: E731
    # The 63 keys of a viewer in 6 groups (every subset of its pairs, canonical).
    pairs = ["all/x", "job/7", "org/7", "role/7", "site/1", "team/0"]
    keys = ["/".join(p for i, p in enumerate(pairs) if m >> i & 1) for m in range(1, 64)]
    return [
        ("audience lookup by key (63 keys)", "SELECT audience FROM audience_live WHERE audience"
         " IN (%s)" % q(keys)),
        ("live counters", "SELECT l.live, l.audience FROM audience_live l WHERE l.audience IN (%s)"
         % q([""] + AUDS)),
        ("seen counters", "SELECT s.seen, s.audience FROM shared_seen s WHERE s.user_id = 7"
         " AND s.audience IN (%s)" % q([""] + AUDS)),
        ("expired, groups", "SELECT a.id, s.user_id FROM %s LEFT JOIN user_state s ON s.user_id"
         " IN (7, 8) AND s.notification_id = a.id AND (s.is_read = 1 OR s.deleted = 1)"
         " WHERE a.kind = 2 AND a.audience IN (%s) AND a.retracted = 0 AND a.expires_at_ms <= %d"
         % (live_from, q(AUDS), NOW)),
        ("expired, broadcasts", "SELECT a.id, s.user_id FROM %s LEFT JOIN user_state s ON"
         " s.user_id IN (7, 8) AND s.notification_id = a.id AND (s.is_read = 1 OR s.deleted = 1)"
         " WHERE a.kind = 1 AND a.audience IS NULL AND a.retracted = 0 AND a.expires_at_ms <= %d"
         % (live_from, NOW)),
        ("audience page", "SELECT n.id, r.is_read FROM %s LEFT JOIN user_state s ON s.user_id = 7"
         " AND s.notification_id = n.id AND (s.deleted = 1 OR s.is_read = 2) LEFT JOIN user_state r"
         " ON r.user_id = 7 AND r.notification_id = n.id WHERE n.kind = 2 AND n.audience = 'org/7'"
         " AND n.retracted = 0 AND (n.expires_at_ms IS NULL OR n.expires_at_ms > %d)"
         " AND n.id < 9223372036854775807 AND s.user_id IS NULL ORDER BY n.id DESC LIMIT 21"
         % (aud_from, NOW)),
        ("readers of a retracted or purged item", "SELECT user_id, notification_id FROM user_state"
         " WHERE notification_id IN (5, 6) AND (is_read = 1 OR deleted = 1)"),
    ]


def main():
    store = sys.argv[1]
    if store.startswith("sqlite:"):
        db = sqlite3.connect(store[len("sqlite:"):])
        for name, sql in statements(True):
            plan = "; ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql))
            print("%s | %s" % (name, plan))
        return
    u = urllib.parse.urlparse(store)
    for name, sql in statements(False):
        r = subprocess.run(["mysql", "-h", u.hostname, "-P", str(u.port or 3306), "-u",
                            urllib.parse.unquote(u.username),
                            "-p" + urllib.parse.unquote(u.password or ""), "-B", "-N",
                            u.path.lstrip("/"), "-e", "EXPLAIN " + sql],
                           capture_output=True, text=True)
        rows = [line.split("\t") for line in r.stdout.strip().splitlines()]
        # id select_type table type possible_keys key key_len ref rows Extra
        cells = lambda x: (x + [""] * 10)[:10]  # noqa: E731
        print("%s | %s" % (name, "; ".join("%s: %s / %s / %s, %s" % tuple(cells(x)[i] for i in
                                                                      (2, 3, 5, 8, 9))
                                          for x in rows) or r.stderr.strip()))


if __name__ == "__main__":
    main()
