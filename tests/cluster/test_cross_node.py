"""Events cross nodes: a notify, a read, a broadcast or a retraction made through one node reaches
the user's sockets on the others, each frame exactly once (issue 6)."""
import pytest


@pytest.fixture
def nodes(shared_cluster):
    return shared_cluster.nodes


def _ws(cluster, node, uid, **kw):
    return cluster.ws(node, uid, **kw)


def test_a_user_on_node_a_receives_a_persisted_notify_posted_to_node_b(shared_cluster, nodes,
                                                                        new_user):
    a, b, c = nodes
    uid = new_user()
    sock = _ws(shared_cluster, a, uid)
    base = sock.initial_count
    b.wait_presence(uid, 1, timeout=10)
    answer = b.notify_ok(user_id=uid, title="from b", data={"k": 1})
    assert answer["online"] == 1, answer
    f = sock.expect("notification", timeout=5)
    assert f["notification"]["id"] == answer["id"]
    assert f["notification"]["title"] == "from b" and f["notification"]["data"] == {"k": 1}
    assert f["unread"] == base + 1
    sock.assert_silent(0.5)  # once, not once per node
    # The item is in the store every node reads.
    assert c.inbox(c.token(uid), "?limit=1")["notifications"][0]["id"] == answer["id"]


def test_a_user_on_node_a_receives_a_transient_notify_posted_to_node_b(shared_cluster, nodes,
                                                                        new_user):
    a, b, _ = nodes
    uid = new_user()
    sock = _ws(shared_cluster, a, uid)
    b.wait_presence(uid, 1, timeout=10)
    answer = b.notify_ok(user_id=uid, title="call waiting", content="line 2", persist=False,
                         data={"call": 9})
    assert answer == {"id": None, "online": 1}
    f = sock.expect("desktop", timeout=5)
    assert f["title"] == "call waiting" and f["content"] == "line 2" and f["data"] == {"call": 9}
    sock.assert_silent(0.5)  # no count frame: nothing stored, nothing counted
    assert b.unread(b.token(uid)) == sock.initial_count


def test_user_ids_posted_to_one_node_reach_users_on_every_node(shared_cluster, nodes, new_user):
    users = [new_user() for _ in nodes]
    socks = [_ws(shared_cluster, n, u) for n, u in zip(nodes, users)]
    answer = nodes[2].notify_ok(user_ids=users, title="to three")
    for u, s, nid in zip(users, socks, answer["ids"]):
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == nid and f["unread"] == s.initial_count + 1
        s.assert_silent(0.3)


def test_a_read_through_node_b_updates_the_count_frames_on_node_a(shared_cluster, nodes,
                                                                   new_user):
    a, b, c = nodes
    uid = new_user()
    tok = b.token(uid)
    s1 = _ws(shared_cluster, a, uid)
    s2 = _ws(shared_cluster, c, uid)  # a second device on a third node
    base = s1.initial_count
    ids = [b.notify_ok(user_id=uid, title="n%d" % i)["id"] for i in range(3)]
    for s in (s1, s2):
        for i in range(3):
            assert s.expect("notification", timeout=5)["unread"] == base + i + 1

    r = b.public("POST", "/v1/inbox/%d/read" % ids[0], token=tok)
    assert r.status == 200 and r.json == {"unread": base + 2}, r
    for s in (s1, s2):
        assert s.expect("changed", timeout=5)["id"] == ids[0]  # the state frame, then the count
        assert s.expect("count", timeout=5)["unread"] == base + 2

    r = b.public("POST", "/v1/inbox/%d/read" % ids[0], token=tok)  # twice changes nothing
    assert r.status == 200 and r.json == {"unread": base + 2}
    s1.assert_silent(0.5)

    assert b.public("DELETE", "/v1/inbox/%d" % ids[1], token=tok).status == 204
    for s in (s1, s2):
        assert s.expect("removed", timeout=5)["id"] == ids[1]
        assert s.expect("count", timeout=5)["unread"] == base + 1

    # A read sent as a frame on node C reaches the socket on node A too.
    s2.send_json({"type": "read", "id": ids[2]})
    for s in (s2, s1):
        assert s.expect("changed", timeout=5)["id"] == ids[2]
        assert s.expect("count", timeout=5)["unread"] == base

    b.notify_ok(user_id=uid, title="more")
    for s in (s1, s2):
        s.expect("notification", timeout=5)
    r = b.public("POST", "/v1/inbox/read_all", token=tok)
    assert r.status == 200 and r.json == {"unread": 0}
    for s in (s1, s2):
        assert s.expect("read_all", timeout=5)["up_to"] >= ids[2]
        assert s.expect("count", timeout=5)["unread"] == 0
        s.assert_silent(0.3)


def test_a_retraction_on_node_c_updates_counts_on_node_a(shared_cluster, nodes, new_user):
    a, b, c = nodes
    uid = new_user()
    sock = _ws(shared_cluster, a, uid)
    base = sock.initial_count
    nid = b.notify_ok(user_id=uid, title="oops")["id"]
    assert sock.expect("notification", timeout=5)["unread"] == base + 1
    assert c.internal("DELETE", "/v1/notifications/%d" % nid).status == 204
    assert sock.expect("removed", timeout=5)["reason"] == "retracted"
    assert sock.expect("count", timeout=5)["unread"] == base
    assert c.internal("DELETE", "/v1/notifications/%d" % nid).status == 404


def test_a_broadcast_posted_to_one_node_reaches_every_socket_on_every_node_once(shared_cluster,
                                                                                 nodes, new_user):
    a, b, c = nodes
    u1, u2, u3, u4 = (new_user() for _ in range(4))
    socks = [_ws(shared_cluster, a, u1), _ws(shared_cluster, b, u2), _ws(shared_cluster, c, u3),
             _ws(shared_cluster, a, u4), _ws(shared_cluster, c, u4)]
    nid = b.notify_ok(user_id=-1, title="maintenance at 22:00")["id"]
    for s in socks:
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == nid and f["notification"]["kind"] == "broadcast"
        assert f["unread"] == s.initial_count + 1
    for s in socks:
        s.assert_silent(0.3)  # exactly once per socket
    # A read of the broadcast by u4 through node B reaches both of u4's sockets, nobody else's.
    r = b.public("POST", "/v1/inbox/%d/read" % nid, token=b.token(u4))
    assert r.status == 200
    for s in socks[3:]:
        assert s.expect("changed", timeout=5)["id"] == nid
        assert s.expect("count", timeout=5)["unread"] == s.initial_count
    for s in socks[:3]:
        s.assert_silent(0.3)


def test_a_group_notify_reaches_members_on_every_node_and_nobody_else(shared_cluster, nodes,
                                                                       new_user):
    a, b, c = nodes
    member_a = _ws(shared_cluster, a, new_user(), groups=["org/7", "role/2"])
    member_c = _ws(shared_cluster, c, new_user(), groups=["role/2", "org/7", "job/1"])
    outsider_b = _ws(shared_cluster, b, new_user(), groups=["org/7"])
    nid = b.notify_ok(audience="org/7/role/2", title="report ready")["id"]
    for s in (member_a, member_c):
        f = s.expect("notification", timeout=5)
        assert f["notification"]["id"] == nid and f["notification"]["audience"] == "org/7/role/2"
        s.assert_silent(0.3)
    outsider_b.assert_silent(0.5)
