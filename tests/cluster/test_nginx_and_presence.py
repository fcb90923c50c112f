"""Three nodes behind a real nginx configured from deploy/nginx/herald.conf: WebSocket upgrades
and HTTP are proxied and balanced, and online, presence and /v1/stats count across nodes
(issue 6)."""
import herald_ws
from herald_cluster import metric, wait_until
from herald_daemon import HOST
from herald_http import assert_error


def _lb_ws(cluster, uid, **kw):
    node = cluster.nodes[0]  # only for the token's secret
    hs = herald_ws.handshake(HOST, cluster.nginx.public_port, "/v1/ws?token=" + node.token(uid))
    assert hs.status == 101, "upgrade through nginx refused: %d %r" % (hs.status, hs.body)
    c = hs.client
    c.initial_count = c.expect("count")["unread"]
    cluster.sockets.append(c)
    return c


def _stats_are(node, want):
    def probe():
        s = node.stats()
        got = {k: s.get(k) for k in want}
        return got == want or None
    return probe


def test_websocket_and_http_through_nginx_are_balanced_and_counted_cluster_wide(cluster3_lb,
                                                                                new_user):
    cl = cluster3_lb
    users = [new_user() for _ in range(3)]
    socks = {u: [_lb_ws(cl, u), _lb_ws(cl, u)] for u in users}
    # least_conn spreads the six upgrades evenly: every node holds two of them.
    per_node = [metric(n, "herald_connections") for n in cl.nodes]
    assert per_node == [2, 2, 2], per_node

    want = {"connections": 6, "users_online": 3, "nodes": 3, "notifications_stored": 0}
    for n in cl.nodes:
        wait_until("stats of %s" % n.name, _stats_are(n, want), timeout=10)
    r = cl.lb_internal("GET", "/v1/stats")
    assert r.status == 200 and {k: r.json[k] for k in want} == want, r
    for n in cl.nodes:
        for u in users:
            assert n.presence(u) == {"online": True, "connections": 2}

    # Notify through nginx's internal site: both sockets get it, wherever they are.
    u = users[0]
    r = cl.lb_internal("POST", "/v1/notify", {"user_id": u, "title": "through nginx"})
    assert r.status == 200 and r.json["online"] == 2, r
    nid = r.json["id"]
    for s in socks[u]:
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == nid and f["unread"] == 1

    # The inbox API through nginx's public site.
    tok = cl.nodes[0].token(u)
    r = cl.lb_public("GET", "/v1/inbox", token=tok)
    assert r.status == 200 and [i["id"] for i in r.json["notifications"]] == [nid], r
    r = cl.lb_public("POST", "/v1/inbox/%d/read" % nid, token=tok)
    assert r.status == 200 and r.json == {"unread": 0}, r
    for s in socks[u]:
        assert s.expect("changed", timeout=5)["id"] == nid  # the state frame, then the count
        assert s.expect("count", timeout=5)["unread"] == 0
    # Errors keep their JSON shape through the proxy.
    assert_error(cl.lb_public("GET", "/v1/inbox/unread_count", token="nope"), 401, "unauthenticated")
    refused = herald_ws.handshake(HOST, cl.nginx.public_port, "/v1/ws?token=nope")
    assert refused.status == 401 and refused.json["error"]["code"] == "unauthenticated"

    # Closing sockets is seen cluster-wide once the registry catches up.
    for s in socks[u]:
        s.close()
    want = {"connections": 4, "users_online": 2, "nodes": 3, "notifications_stored": 1}
    for n in cl.nodes:
        wait_until("stats of %s after closes" % n.name, _stats_are(n, want), timeout=10)
        assert n.presence(u) == {"online": False, "connections": 0}


def test_online_in_a_notify_answer_counts_sockets_on_every_node(cluster3_lb, new_user):
    cl = cluster3_lb
    a, b, c = cl.nodes
    uid = new_user()
    cl.ws(a, uid)
    cl.ws(b, uid)
    cl.ws(b, uid)
    for n in cl.nodes:
        n.wait_presence(uid, 3, timeout=10)
    assert c.notify_ok(user_id=uid, title="x", persist=False)["online"] == 3
    assert c.notify_ok(user_ids=[uid, new_user()], title="y")["online"] == 3
