"""Notify through a Redis stream (API.md v1.1): consumer group `herald`, one consumer per node,
XACK after the commit, refused entries to KEY:dead, pending entries of a dead node claimed."""
import json
import time
import uuid

import queue_brokers
import queue_checks
from conftest import VOLUME

USERS = 20


def stream_env(redis, key, **extra):
    env = {"HERALD_STREAM": "%s/%s" % (redis.url, key)}
    env.update(extra)
    return env


def xadd_all(redis, key, bodies):
    r = queue_brokers.Resp(redis.url)
    for i in range(0, len(bodies), 500):
        chunk = bodies[i:i + 500]
        r.pipeline([["XADD", key, "*", "body", b if isinstance(b, str) else json.dumps(b)] for b in chunk])
    r.close()


def pending(redis, key):
    r = queue_brokers.Resp(redis.url)
    try:
        return r.cmd("XPENDING", key, "herald")[0]
    except RuntimeError as e:  # the group is not there yet
        assert "NOGROUP" in str(e), e
        return None
    finally:
        r.close()


def test_stream_entries_are_stored_once_pushed_and_acked(redis, daemons, stream_key, new_user):
    users = [new_user() for _ in range(USERS)]
    h = daemons(stream_env(redis, stream_key))
    clients = {u: h.ws(u) for u in users}
    bodies = queue_checks.bodies_for(users, VOLUME, "s" + uuid.uuid4().hex[:6])
    xadd_all(redis, stream_key, bodies)
    queue_checks.expect_pushed_and_stored_once(h, clients, users, bodies, timeout=120 + VOLUME / 50)
    queue_brokers.wait_until(lambda: pending(redis, stream_key) == 0, 10, "nothing pending")
    assert queue_checks.metric(h, "herald_queue_consumed_total", "stream") == VOLUME


def test_refused_entries_go_to_the_dead_stream_and_are_acked(redis, daemons, stream_key, new_user):
    user = new_user()
    h = daemons(stream_env(redis, stream_key))
    r = queue_brokers.Resp(redis.url)
    r.cmd("XADD", stream_key, "*", "body", "not json")
    r.cmd("XADD", stream_key, "*", "body", json.dumps({"user_id": user, "title": ""}))
    r.cmd("XADD", stream_key, "*", "other", "no body field")
    r.cmd("XADD", stream_key, "*", "body", json.dumps({"user_id": user, "title": "fine"}))
    queue_checks.wait_stored(h, [user], {"fine"}, timeout=20)
    dead = queue_brokers.wait_until(lambda: (lambda e: e if len(e) == 3 else None)(
        r.cmd("XRANGE", stream_key + ":dead", "-", "+")), 10, "three dead entries")
    fields = [dict(zip(e[1][::2], e[1][1::2])) for e in dead]
    errors = [json.loads(f["error"])["error"] for f in fields]
    assert all(e["code"] == "invalid_argument" for e in errors)
    # Each refused entry with why (the order among them is not promised: an entry without a
    # body is refused at once, the others after their body is parsed).
    assert sorted((f["body"], e["field"]) for f, e in zip(fields, errors)) == sorted(
        [("not json", "body"), (json.dumps({"user_id": user, "title": ""}), "title"), ("", "body")])
    queue_brokers.wait_until(lambda: pending(redis, stream_key) == 0, 10, "nothing pending")
    assert queue_checks.metric(h, "herald_queue_refused_total", "stream") == 3
    assert queue_checks.stored(h, [user]) == {"fine": 1}
    r.close()
    # GET /v1/stats (the admin console's source) carries the same counts.
    queue_brokers.wait_until(lambda: h.stats()["queues"]["stream"]["in_flight"] == 0, 10, "settled")
    stream = h.stats()["queues"]["stream"]
    assert stream["consumed"] == 4 and stream["refused"] == 3 and stream["up"] is True, stream
    assert "amqp" not in h.stats()["queues"]


def test_two_nodes_on_one_stream_process_each_entry_once(redis, mariadb, daemons, stream_key, new_user):
    users = [new_user() for _ in range(USERS)]
    store = mariadb.url
    a = daemons(stream_env(redis, stream_key, HERALD_NODE_ID="node-a"), store=store, name="a")
    b = daemons(stream_env(redis, stream_key, HERALD_NODE_ID="node-b"), store=store, name="b")
    prefix = "t" + uuid.uuid4().hex[:6]
    bodies = queue_checks.bodies_for(users, VOLUME, prefix)
    xadd_all(redis, stream_key, bodies)
    want = {b_["title"] for b_ in bodies}
    got = queue_checks.wait_stored(a, users, want, timeout=60 + VOLUME / 100)
    assert max(got.values()) == 1, "an entry was processed twice"
    ca = queue_checks.metric(a, "herald_queue_consumed_total", "stream")
    cb = queue_checks.metric(b, "herald_queue_consumed_total", "stream")
    assert ca + cb == VOLUME and ca > 0 and cb > 0, (ca, cb)
    queue_brokers.wait_until(lambda: pending(redis, stream_key) == 0, 10, "nothing pending")


def test_a_dead_nodes_pending_entries_are_claimed_by_another(redis, daemons, stream_key, new_user, tmp_path):
    users = [new_user() for _ in range(5)]
    # Node A cannot reach its store: it reads entries and holds them, pending on it; then it dies.
    a = daemons(stream_env(redis, stream_key, HERALD_NODE_ID="node-dead", HERALD_STREAM_PREFETCH="50"),
                store="sqlite:" + str(tmp_path / "missing" / "dir" / "herald.db"), wait=False, name="a")
    prefix = "c" + uuid.uuid4().hex[:6]
    bodies = queue_checks.bodies_for(users, 200, prefix)
    xadd_all(redis, stream_key, bodies)
    queue_brokers.wait_until(lambda: pending(redis, stream_key) == 50, 20, "50 entries pending on node A")
    a.kill9()
    killed_at = time.monotonic()
    b = daemons(stream_env(redis, stream_key, HERALD_NODE_ID="node-b"), name="b")
    want = {x["title"] for x in bodies}
    # The 150 never read go at once; node A's 50 only once they have been idle for 30 s.
    queue_brokers.wait_until(lambda: len(queue_checks.stored(b, users)) == 150, 20, "150 stored")
    got = queue_checks.wait_stored(b, users, want, timeout=60)
    assert time.monotonic() - killed_at >= 25, "claimed before the entries were idle long enough"
    assert max(got.values()) == 1
    assert queue_checks.metric(b, "herald_queue_redelivered_total", "stream") == 50
    queue_brokers.wait_until(lambda: pending(redis, stream_key) == 0, 10, "nothing pending")
