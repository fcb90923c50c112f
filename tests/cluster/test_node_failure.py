"""A node killed with kill -9: its clients reconnect through nginx to another node with `since`
and miss nothing; the registry forgets the dead node (issue 6)."""
import herald_ws
from herald_cluster import metric, wait_until
from herald_daemon import HOST
from herald_ws import Closed


def _lb_ws(cluster, uid, since=None):
    q = "/v1/ws?token=" + cluster.nodes[1].token(uid) + ("&since=%d" % since if since else "")
    hs = herald_ws.handshake(HOST, cluster.nginx.public_port, q)
    assert hs.status == 101, "upgrade through nginx refused: %d %r" % (hs.status, hs.body)
    c = hs.client
    if since:
        c.initial_sync = c.expect("sync")
    c.initial_count = c.expect("count")["unread"]
    cluster.sockets.append(c)
    return c


def _lost(sock, timeout):
    """True when the server side went away (EOF, reset or a close frame) within `timeout`."""
    try:
        sock.recv_message(timeout)
    except Closed:
        return True
    except OSError:
        return False
    return False


def _notify_all(cl, users, title):
    ids = {}
    for u in users:
        r = cl.lb_internal("POST", "/v1/notify", {"user_id": u, "title": "%s %d" % (title, u)})
        assert r.status == 200, r
        ids[u] = r.json["id"]
    return ids


def test_clients_of_a_killed_node_resume_on_another_with_nothing_missed(cluster3_lb, new_user):
    cl = cluster3_lb
    users = [new_user() for _ in range(6)]
    socks = {u: _lb_ws(cl, u) for u in users}
    assert [metric(n, "herald_connections") for n in cl.nodes] == [2, 2, 2]
    for n in cl.nodes:
        wait_until("every user online on %s" % n.name,
                   lambda: n.stats()["connections"] == 6, timeout=10)
    wait_until("every user's channel subscribed",
               lambda: all(cl.subscribers(u) == 1 for u in users), timeout=10)

    first = _notify_all(cl, users, "before")
    last_seen = {}
    for u, s in socks.items():
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == first[u]
        last_seen[u] = first[u]

    victim = cl.nodes[0]
    victim.kill9()
    lost = [u for u, s in socks.items() if _lost(s, 1.0)]
    assert len(lost) == 2, "expected the victim's 2 clients to lose their socket, got %r" % lost
    kept = [u for u in users if u not in lost]

    # While they are away, through nginx (which skips the dead node), two more each.
    missed = [_notify_all(cl, users, "during"), _notify_all(cl, users, "during")]
    for u in kept:
        for m in missed:
            f = socks[u].expect("notification", timeout=5)
            assert f["notification"]["id"] == m[u]

    # The lost clients reconnect through nginx with since = the last id they saw.
    for u in lost:
        s = _lb_ws(cl, u, since=last_seen[u])
        got = [i["id"] for i in s.initial_sync["notifications"]]
        assert got == [m[u] for m in missed], (u, got)
        assert s.initial_sync["more"] is False
        assert s.initial_count == 3
        socks[u] = s
    assert sorted(metric(n, "herald_connections") for n in cl.nodes[1:]) == [3, 3]

    # The registry drops the dead node (liveness TTL 6 s) and its connections.
    for n in cl.nodes[1:]:
        wait_until("stats on %s without the dead node" % n.name,
                   lambda: {k: n.stats()[k] for k in ("nodes", "connections", "users_online")}
                   == {"nodes": 2, "connections": 6, "users_online": 6}, timeout=15)

    # And the resumed clients get live pushes again on their new nodes.
    wait_until("resumed users' channels subscribed",
               lambda: all(cl.subscribers(u) == 1 for u in lost), timeout=10)
    after = _notify_all(cl, users, "after")
    for u, s in socks.items():
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == after[u] and f["unread"] == 4
