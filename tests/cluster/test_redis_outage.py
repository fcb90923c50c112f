"""Redis stopped mid-test: local delivery keeps working, /readyz is 503, notify still stores and
answers 200; Redis back: /readyz 200 again and every socket's count converges to the store's
truth, with a count frame where it changed (issue 6)."""
import time

from herald_cluster import drain_last_unread, metric, readyz, wait_until
from herald_http import assert_error


def test_redis_down_keeps_local_delivery_and_counts_converge_when_it_returns(cluster2, new_user):
    cl = cluster2
    a, b = cl.nodes
    u1, u2, u3 = new_user(), new_user(), new_user()
    s1 = cl.ws(a, u1)            # u1 on A
    s2 = cl.ws(b, u2)            # u2 on B
    s3a, s3b = cl.ws(a, u3), cl.ws(b, u3)  # u3 on both
    seeded = {}
    for u in (u1, u2, u3):
        seeded[u] = [a.notify_ok(user_id=u, title="seed %d" % i)["id"] for i in range(3)]
    for s in (s1, s2, s3a, s3b):
        assert drain_last_unread(s, 0.3) == 3
    seen = {id(s): 3 for s in (s1, s2, s3a, s3b)}
    assert metric(a, "herald_bus_published_total") > 0  # the seeds crossed Redis
    dropped_before = metric(b, "herald_bus_dropped_total")

    cl.redis.stop()
    for n in cl.nodes:
        wait_until("%s /readyz 503 with Redis down" % n.name, lambda: readyz(n) == 503, timeout=15)
        assert_error(n.internal("GET", "/readyz", key=False), 503, "unavailable")
        assert n.internal("GET", "/healthz", key=False).status == 200

    # Local delivery keeps working: a notify to a user on the same node.
    r = a.notify_ok(user_id=u1, title="local while down")
    f = s1.expect("notification", timeout=5)
    assert f["notification"]["id"] == r["id"] and f["unread"] == 4
    seen[id(s1)] = 4
    assert a.notify_ok(user_id=u1, title="popup while down", persist=False)["id"] is None
    assert s1.expect("desktop", timeout=5)["title"] == "popup while down"
    # A read on the same node updates that node's sockets.
    r2 = b.public("POST", "/v1/inbox/%d/read" % seeded[u2][0], token=b.token(u2))
    assert r2.status == 200 and r2.json == {"unread": 2}
    assert s2.expect("changed", timeout=5)["id"] == seeded[u2][0]
    assert s2.expect("count", timeout=5)["unread"] == 2
    seen[id(s2)] = 2

    # Changes made on the other node: stored and answered, though the bus cannot carry them.
    cross = b.notify_ok(user_id=u1, title="stored while down")
    assert cross["id"] > r["id"]
    assert a.inbox(a.token(u1), "?limit=1")["notifications"][0]["id"] == cross["id"]
    assert a.public("DELETE", "/v1/inbox/%d" % seeded[u2][1], token=a.token(u2)).status == 204
    assert a.public("POST", "/v1/inbox/read_all", token=a.token(u3)).status == 200
    assert b.internal("DELETE", "/v1/notifications/%d" % seeded[u1][0]).status == 204
    bcast = b.notify_ok(user_id=-1, title="broadcast while down")["id"]
    assert bcast > cross["id"]
    # What B could not hand to Redis is counted, not lost from sight.
    assert metric(b, "herald_bus_dropped_total") > dropped_before
    # Let whatever each node could deliver locally arrive before Redis returns.
    time.sleep(0.5)
    for s in (s1, s2, s3a, s3b):
        v = drain_last_unread(s, 0.2)
        if v is not None:
            seen[id(s)] = v

    truth = {u: a.unread(a.token(u)) for u in (u1, u2, u3)}
    # u1: 3 seeded + local + cross - retracted + broadcast; u2: 3 - read - deleted + broadcast;
    # u3: read all, then the broadcast.
    assert truth == {u1: 5, u2: 2, u3: 1}, truth

    cl.redis.start()
    for n in cl.nodes:
        wait_until("%s /readyz 200 after Redis returned" % n.name, lambda: readyz(n) == 200,
                   timeout=20)
    socks = {id(s1): (s1, u1), id(s2): (s2, u2), id(s3a): (s3a, u3), id(s3b): (s3b, u3)}
    for key, (s, u) in socks.items():
        if seen[key] != truth[u]:
            # The store's value arrives: in the frames of the items the socket missed (the
            # repair) or in a count frame (after any others).
            s.wait_for(lambda f: f["type"] in ("count", "notification") and f["unread"] == truth[u],
                       timeout=10, what="the store's count %d" % truth[u])
        got = drain_last_unread(s, 1.0)
        assert got in (None, truth[u]), "user %d: socket ended on %r, store says %d" % (
            u, got, truth[u])

    # The bus carries events again, in both directions.
    wait_until("u1's channel subscribed again", lambda: cl.subscribers(u1) == 1, timeout=10)
    wait_until("u2's channel subscribed again", lambda: cl.subscribers(u2) == 1, timeout=10)
    n1 = b.notify_ok(user_id=u1, title="after")["id"]
    f = s1.expect("notification", timeout=5)
    assert f["notification"]["id"] == n1 and f["unread"] == truth[u1] + 1
    n2 = a.notify_ok(user_id=u2, title="after")["id"]
    f = s2.expect("notification", timeout=5)
    assert f["notification"]["id"] == n2 and f["unread"] == truth[u2] + 1
