"""What crosses Redis: a personal event reaches only the nodes that hold the user, and a
broadcast is one PUBLISH that each node receives once, however many of its sockets it reaches
(connection_manager/README.md, "Channels and routing")."""
import re
import time

from herald_cluster import metric, wait_until


def _received(nodes):
    return {n.name: metric(n, "herald_bus_received_total") for n in nodes}


def _publishes(cluster):
    """Redis's own count of PUBLISH commands so far."""
    m = re.search(r"^cmdstat_publish:calls=(\d+)", cluster.redis.cli("INFO", "commandstats"), re.M)
    return int(m.group(1)) if m else 0


def _settled(cluster, nodes):
    """The bus counters once nothing is in flight (two equal readings 0.3 s apart)."""
    before = (_received(nodes), _publishes(cluster))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.3)
        now = (_received(nodes), _publishes(cluster))
        if now == before:
            return now
        before = now
    raise AssertionError("the bus did not settle: %r" % (before,))


def test_a_personal_event_reaches_only_the_nodes_holding_the_user(shared_cluster, new_user):
    cl = shared_cluster
    a, b, c = cl.nodes
    uid = new_user()
    sock = cl.ws(a, uid)
    assert cl.subscribers(uid) == 1
    got0, _ = _settled(cl, cl.nodes)
    nid = b.notify_ok(user_id=uid, title="to a only")["id"]
    assert sock.expect("notification", timeout=5)["notification"]["id"] == nid
    got1, _ = _settled(cl, cl.nodes)
    assert got1[a.name] > got0[a.name], "node a holds the user and received nothing"
    assert got1[b.name] == got0[b.name], "node b (the publisher, no socket) received its event"
    assert got1[c.name] == got0[c.name], "node c holds no socket of the user and received it"
    # Positive control: once the user has a socket on c too, c receives the next one.
    sock_c = cl.ws(c, uid)
    assert cl.subscribers(uid) == 2
    got2, _ = _settled(cl, cl.nodes)
    nid2 = b.notify_ok(user_id=uid, title="to a and c")["id"]
    for s in (sock, sock_c):
        assert s.expect("notification", timeout=5)["notification"]["id"] == nid2
    got3, _ = _settled(cl, cl.nodes)
    assert got3[c.name] > got2[c.name] and got3[a.name] > got2[a.name]
    assert got3[b.name] == got2[b.name]
    # When the user's last socket on a node closes, that node leaves the channel.
    sock_c.close()
    wait_until("node c unsubscribed", lambda: cl.subscribers(uid) == 1, timeout=30)


def test_a_broadcast_is_one_publish_and_one_message_per_node(shared_cluster, new_user):
    cl = shared_cluster
    a, b, c = cl.nodes
    socks = [cl.ws(a, new_user()) for _ in range(6)] + [cl.ws(c, new_user()) for _ in range(4)]
    got0, pub0 = _settled(cl, cl.nodes)
    nid = b.notify_ok(user_id=-1, title="one publish", persist=False, desktop=True)
    for s in socks:
        s.expect("desktop", timeout=5)
    got1, pub1 = _settled(cl, cl.nodes)
    assert pub1 - pub0 == 1, "a broadcast took %d PUBLISH commands" % (pub1 - pub0)
    assert got1[a.name] - got0[a.name] == 1, "node a (6 sockets) received %r messages" % (
        got1[a.name] - got0[a.name])
    assert got1[c.name] - got0[c.name] == 1, "node c (4 sockets) received %r messages" % (
        got1[c.name] - got0[c.name])
    assert got1[b.name] == got0[b.name], "the publishing node received its own broadcast"
    assert nid is not None
