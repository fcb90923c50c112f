"""Counts and `online` across nodes: a retraction made through any node right after the item's
frame arrived brings every socket of the user back to the true count, and a group notify's
`online` counts the members' sockets on every node (the presence registry may lag a moment)."""
import time

import pytest

from herald_cluster import drain_last_unread, unread_recount, wait_until


@pytest.fixture
def nodes(shared_cluster):
    return shared_cluster.nodes


@pytest.mark.parametrize("notify_via, retract_via", [(1, 1), (0, 1), (1, 2), (0, 0)])
def test_a_retraction_right_after_the_frame_brings_the_count_back(shared_cluster, nodes, new_user,
                                                                   notify_via, retract_via):
    a = nodes[0]
    uid = new_user()
    sock = shared_cluster.ws(a, uid)
    for _ in range(3):
        nid = nodes[notify_via].notify_ok(user_id=uid, title="oops")["id"]
        f = sock.expect("notification", timeout=5)
        assert f["notification"]["id"] == nid
        # At once, from the node named: no pause between the frame and the retraction.
        assert nodes[retract_via].internal("DELETE", "/v1/notifications/%d" % nid).status == 204
        sock.wait_count(0, timeout=5)


@pytest.mark.parametrize("retract_via", [1, 2])
def test_a_retraction_right_after_connecting_and_a_local_notify(shared_cluster, nodes, new_user,
                                                               retract_via):
    """The socket is new: node A may not have subscribed to the user's channel yet when the
    retraction's event is published elsewhere."""
    a = nodes[0]
    for _ in range(3):
        uid = new_user()
        sock = shared_cluster.ws(a, uid, subscribed=False)
        nid = a.notify_ok(user_id=uid, title="oops")["id"]
        assert sock.expect("notification", timeout=5)["notification"]["id"] == nid
        assert nodes[retract_via].internal("DELETE", "/v1/notifications/%d" % nid).status == 204
        sock.wait_count(0, timeout=5)


def test_a_retraction_of_a_group_item_on_another_node_reaches_the_members(shared_cluster, nodes,
                                                                          new_user):
    a, b, c = nodes
    uid = new_user()
    sock = shared_cluster.ws(a, uid, groups=["org/77", "role/2"])
    nid = b.notify_ok(audience="org/77", title="group oops")["id"]
    assert sock.expect("notification", timeout=5)["notification"]["id"] == nid
    assert b.internal("DELETE", "/v1/notifications/%d" % nid).status == 204
    sock.wait_count(0, timeout=5)
    assert unread_recount(c, c.token(uid, ["org/77", "role/2"])) == 0


def _frames(sock, quiet):
    """Every frame until none arrives for `quiet` seconds."""
    import json
    import socket
    out = []
    while True:
        try:
            _, payload = sock.recv_message(quiet)
        except socket.timeout:
            return out
        out.append(json.loads(payload))


def _online(node, **body):
    return node.notify_ok(persist=False, title="probe", **body)["online"]


def test_online_of_a_group_notify_counts_members_on_every_node(shared_cluster, nodes, new_user):
    a, b, c = nodes
    u1, u2, u3, outsider = (new_user() for _ in range(4))
    # Members of org/501 on A and C, one of them also role/9; nobody on B; an outsider on B.
    s1 = shared_cluster.ws(a, u1, groups=["org/501", "role/9"])
    s2 = shared_cluster.ws(c, u2, groups=["org/501"])
    s3 = shared_cluster.ws(c, u3, groups=["org/501", "role/9"])
    s4 = shared_cluster.ws(b, outsider, groups=["org/502", "role/9"])
    # The registry may lag a few seconds: wait for it, then every node answers the same.
    wait_until("org/501 online on B", lambda: _online(b, audience="org/501") == 3, timeout=10)
    for n in nodes:
        assert _online(n, audience="org/501") == 3
        assert _online(n, audience="org/501/role/9") == 2
        assert _online(n, audience="role/9") == 3
        assert _online(n, audience="org/502") == 1
        assert _online(n, audience="org/503") == 0
    # A persisted group notify answers the same and reaches the members on A and C.
    r = b.notify_ok(audience="role/9/org/501", title="for admins of 501")
    assert r["online"] == 2
    for s in (s1, s3):  # after the probes' desktop frames
        f = s.wait_for(lambda f: f["type"] == "notification", timeout=5, what="notification")
        assert f["notification"]["id"] == r["id"]
    for s in (s2, s4):
        assert not [f for f in _frames(s, 0.3) if f["type"] == "notification"]
    # Sockets that leave stop counting once the registry catches up.
    s3.close()
    wait_until("org/501 online after a close",
               lambda: _online(b, audience="org/501") == 2, timeout=10)
    assert _online(a, audience="org/501/role/9") == 1
    # Two sockets of one member count twice (online counts connections).
    shared_cluster.ws(b, u2, groups=["org/501"])
    wait_until("a second socket", lambda: _online(a, audience="org/501") == 3, timeout=10)


def test_a_socket_on_another_node_shows_the_true_count_after_a_burst_with_retractions(
        shared_cluster, nodes, new_user):
    a, b, c = nodes
    uid = new_user()
    sock = shared_cluster.ws(a, uid)
    ids = [b.notify_ok(user_id=uid, title="n%d" % i)["id"] for i in range(10)]
    for i, nid in enumerate(ids):
        if i % 2 == 0:
            assert nodes[1 + i % 2].internal("DELETE", "/v1/notifications/%d" % nid).status == 204
    time.sleep(0.5)
    assert drain_last_unread(sock) == 5
    assert unread_recount(c, c.token(uid)) == 5 == c.unread(c.token(uid))


def test_two_nodes_a_retraction_through_b_right_after_the_frame_on_a(cluster2, new_user):
    a, b = cluster2.nodes
    for via in (a, b, a, b):
        uid = new_user()
        sock = cluster2.ws(a, uid)
        nid = via.notify_ok(user_id=uid, title="oops")["id"]
        assert sock.expect("notification", timeout=5)["notification"]["id"] == nid
        assert b.internal("DELETE", "/v1/notifications/%d" % nid).status == 204
        sock.wait_count(0, timeout=5)
        assert a.unread(a.token(uid)) == 0
