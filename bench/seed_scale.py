#!/usr/bin/env python3
"""Seeds a Herald store for herald-bench's `scale` scenario with bulk statements (not the HTTP
API): INSERT ... SELECT from a recursive CTE (SQLite) or from a digits table (MariaDB).

Layout (the scale scenario's tokens follow it; see bench/README.md):
- users 1..USERS, each with PER_USER personal items (all unread, important: no expiry);
- ORGS orgs, ROLES roles, JOBS jobs; AUDIENCES group audiences in five families of equal size:
  org/o, org/o/role/(o % ROLES), org/o/job/(o % JOBS), role/r/job/j, and
  job/(o % JOBS)/org/o/role/(o % ROLES) (o < ORGS), GROUP_ITEMS group items spread evenly over them;
- BROADCASTS broadcasts;
- user u belongs to org/(u % ORGS), role/(u % ORGS % ROLES), job/(u % ORGS % JOBS), team/(u % 7),
  site/(u % 3), all/x: 6 groups, 5 of the audiences.
The counters (unread_counters, audience_live), the pair index (audience_pairs) and id_sequence are
written to match, so `herald recount` finds nothing to repair.

Usage: bench/seed_scale.py HERALD_BIN STORE [--users N] [--per-user N] [--group-items N]
         [--audiences N] [--orgs N] [--roles N] [--jobs N] [--broadcasts N]
  STORE: sqlite:PATH or mysql://USER:PASS@HOST:PORT/DB (an empty database; migrated first).
"""
import argparse
import os
import sqlite3
import subprocess
import sys
import time
import urllib.parse

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
import herald_daemon  # noqa: E402

NOW_MS = int(time.time() * 1000)


def audiences(a):
    """The group audiences, canonical (keys sorted), in id order of their family."""
    per = a.audiences // 5
    out = []
    for i in range(per):
        o = i % a.orgs
        out.append("org/%d" % o)
    for i in range(per):
        o = i % a.orgs
        out.append("org/%d/role/%d" % (o, o % a.roles))
    for i in range(per):
        o = i % a.orgs
        out.append("job/%d/org/%d" % (o % a.jobs, o))
    for i in range(per):
        out.append("job/%d/role/%d" % (i % a.jobs, (i // a.jobs) % a.roles))
    for i in range(per):
        o = i % a.orgs
        out.append("job/%d/org/%d/role/%d" % (o % a.jobs, o, o % a.roles))
    return sorted(set(out), key=out.index)


def pairs(audience):
    parts = audience.split("/")
    return ["%s/%s" % (parts[i], parts[i + 1]) for i in range(0, len(parts), 2)]


def statements(a, auds, dialect):
    """The bulk statements, in order. `seq(n)` is a row source of k = 0..n-1."""
    personal = a.users * a.per_user
    first_group = personal + 1
    first_bcast = first_group + a.group_items
    next_id = first_bcast + a.broadcasts

    def seq(n):
        if dialect == "sqlite":
            return ("(WITH RECURSIVE s(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM s WHERE k + 1 < %d)"
                    " SELECT k FROM s) q" % n)
        return "(SELECT k FROM seq WHERE k < %d) q" % n

    cols = ("id, kind, user_id, audience, title, content, sender, data, created_at_ms,"
            " expires_at_ms, retention, desktop")
    out = []
    if dialect == "mysql":
        out += ["CREATE TEMPORARY TABLE seq (k BIGINT NOT NULL PRIMARY KEY)",
                "CREATE TEMPORARY TABLE d (k INT NOT NULL)",
                "INSERT INTO d VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9)",
                "INSERT INTO seq SELECT a.k + 10*b.k + 100*c.k + 1000*e.k + 10000*f.k"
                " + 100000*g.k + 1000000*h.k FROM d a, d b, d c, d e, d f, d g, d h",
                "CREATE TEMPORARY TABLE auds (k INT NOT NULL PRIMARY KEY,"
                " audience VARCHAR(800) CHARACTER SET ascii COLLATE ascii_bin NOT NULL)"]
    else:
        out += ["CREATE TEMPORARY TABLE auds (k INTEGER PRIMARY KEY, audience TEXT NOT NULL)"]
    for at in range(0, len(auds), 500):
        out.append("INSERT INTO auds (k, audience) VALUES " +
                   ", ".join("(%d, '%s')" % (at + i, x) for i, x in enumerate(auds[at:at + 500])))
    # Personal: item k belongs to user 1 + k % users (ids interleave users, as arrivals do).
    chunk = 1_000_000
    for at in range(0, personal, chunk):
        n = min(chunk, personal - at)
        out.append("INSERT INTO notifications (%s) SELECT %d + k + 1, 0, 1 + (%d + k) %% %d, NULL,"
                   " 'personal item', 'seeded for the scale bench', NULL, NULL, %d, NULL, 1, 0"
                   " FROM %s" % (cols, at, at, a.users, NOW_MS, seq(n)))
    out.append("INSERT INTO unread_counters (user_id, personal_unread) SELECT k + 1, %d FROM %s"
               % (a.per_user, seq(a.users)))
    out.append("INSERT INTO notifications (%s) SELECT %d + q.k, 2, NULL, x.audience, 'group item',"
               " 'seeded for the scale bench', NULL, NULL, %d, NULL, 1, 0 FROM %s JOIN auds x"
               " ON x.k = q.k %% %d" % (cols, first_group, NOW_MS, seq(a.group_items), len(auds)))
    out.append("INSERT INTO notifications (%s) SELECT %d + k, 1, NULL, NULL, 'broadcast',"
               " 'seeded for the scale bench', NULL, NULL, %d, NULL, 1, 0 FROM %s"
               % (cols, first_bcast, NOW_MS, seq(a.broadcasts)))
    live = {}
    for k in range(a.group_items):
        live[auds[k % len(auds)]] = live.get(auds[k % len(auds)], 0) + 1
    rows = [(x, n) for x, n in live.items()]
    if a.broadcasts:
        rows.append(("", a.broadcasts))
    for at in range(0, len(rows) if a.schema >= 4 else 0, 500):
        out.append("INSERT INTO audience_live (audience, live) VALUES " +
                   ", ".join("('%s', %d)" % r for r in rows[at:at + 500]))
    prs = sorted({(p, x) for x in live for p in pairs(x)})
    for at in range(0, len(prs), 500):
        out.append("INSERT INTO audience_pairs (pair, audience) VALUES " +
                   ", ".join("('%s', '%s')" % r for r in prs[at:at + 500]))
    out.append("UPDATE id_sequence SET next_id = %d WHERE name = 'notifications'" % next_id)
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("herald")
    p.add_argument("store")
    p.add_argument("--users", type=int, default=100_000)
    p.add_argument("--per-user", type=int, default=100)
    p.add_argument("--group-items", type=int, default=200_000)
    p.add_argument("--audiences", type=int, default=5_000)
    p.add_argument("--orgs", type=int, default=1_000)
    p.add_argument("--roles", type=int, default=20)
    p.add_argument("--jobs", type=int, default=50)
    p.add_argument("--broadcasts", type=int, default=1_000)
    p.add_argument("--schema", type=int, default=4,
                   help="3: a Herald without the shared counters (no audience_live rows)")
    a = p.parse_args()
    env = herald_daemon.clean_env({"HERALD_STORE": a.store, "HERALD_JWT_SECRET": "x" * 32,
                                   "HERALD_API_KEY": "k" * 16})
    r = subprocess.run([a.herald, "migrate"], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("seed_scale: herald migrate failed: " + r.stderr)
    t0 = time.time()
    auds = audiences(a) if a.audiences and a.group_items else []
    if a.store.startswith("sqlite:"):
        db = sqlite3.connect(a.store[len("sqlite:"):])
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=OFF")
        db.execute("PRAGMA cache_size=-400000")
        db.execute("BEGIN")
        for st in statements(a, auds, "sqlite"):
            db.execute(st)
        db.commit()
        db.execute("ANALYZE")
        db.close()
    else:
        u = urllib.parse.urlparse(a.store)
        sql = ";\n".join(["SET SESSION unique_checks = 0", "SET SESSION foreign_key_checks = 0"] +
                         statements(a, auds, "mysql") + ["COMMIT"] +
                         ["ANALYZE TABLE notifications, unread_counters, audience_pairs" +
                          (", audience_live" if a.schema >= 4 else "")]) + ";\n"
        cmd = ["mysql", "-h", u.hostname, "-P", str(u.port or 3306), "-u",
               urllib.parse.unquote(u.username), "-p" + urllib.parse.unquote(u.password or ""),
               u.path.lstrip("/")]
        r = subprocess.run(cmd, input="SET autocommit = 0;\n" + sql, capture_output=True,
                           text=True)
        if r.returncode != 0:
            sys.exit("seed_scale: mysql failed: " + r.stderr[-2000:])
    print("seeded %d users, %d personal, %d group items over %d audiences, %d broadcasts in %.1f s"
          % (a.users, a.users * a.per_user, a.group_items, len(auds), a.broadcasts,
             time.time() - t0))


if __name__ == "__main__":
    main()
