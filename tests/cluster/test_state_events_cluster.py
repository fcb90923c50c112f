"""State events across nodes on Redis: a read, delete, read-all or retraction made through one
node reaches the user's sockets on every node as one state frame before the count, never
another user's; recovery with changes_since through another node (API.md v1.1)."""
import time

import pytest


@pytest.fixture
def nodes(shared_cluster):
    return shared_cluster.nodes


def _state_then_count(s, frame_type, timeout=5):
    f = s.expect(frame_type, timeout)
    s.expect("count", timeout)
    return f


def test_state_frames_cross_nodes_once_before_the_count_and_never_to_another_user(
        shared_cluster, nodes, new_user):
    a, b, c = nodes
    uid, other = new_user(), new_user()
    tok = b.token(uid)
    s1 = shared_cluster.ws(a, uid)
    s2 = shared_cluster.ws(c, uid)
    o = shared_cluster.ws(a, other)
    ids = [b.notify_ok(user_id=uid, title="n%d" % i)["id"] for i in range(3)]
    for s in (s1, s2):
        for _ in ids:
            s.expect("notification", timeout=5)

    assert b.public("POST", "/v1/inbox/%d/read" % ids[0], token=tok).status == 200
    seqs = {_state_then_count(s, "changed")["seq"] for s in (s1, s2)}
    assert len(seqs) == 1
    s2.send_json({"type": "delete", "id": ids[1]})
    got = [_state_then_count(s, "removed") for s in (s1, s2)]
    assert {(f["id"], f["reason"]) for f in got} == {(ids[1], "deleted")}
    assert got[0]["seq"] > seqs.pop()
    assert b.public("POST", "/v1/inbox/read_all", token=tok).status == 200
    for s in (s1, s2):
        assert _state_then_count(s, "read_all")["up_to"] >= ids[2]
    for s in (s1, s2):
        s.assert_silent(0.3)  # once per socket, not once per node
    o.assert_silent(0.2)


def test_a_broadcast_retraction_on_one_node_reaches_every_reader_on_every_node(
        shared_cluster, nodes, new_user):
    a, b, c = nodes
    users = [new_user() for _ in range(3)]
    socks = [shared_cluster.ws(n, u) for n, u in zip(nodes, users)]
    nid = b.notify_ok(user_id=-1, title="retract me")["id"]
    for s in socks:
        s.expect("notification", timeout=5)
    # One reader has read it already: the retraction still reaches it.
    r = a.public("POST", "/v1/inbox/%d/read" % nid, token=a.token(users[0]))
    assert r.status == 200
    _state_then_count(socks[0], "changed")
    assert c.internal("DELETE", "/v1/notifications/%d" % nid).status == 204
    seqs = set()
    for s in socks:
        f = s.expect("removed", timeout=5)
        assert f["id"] == nid and f["reason"] == "retracted"
        seqs.add(f["seq"])
    assert len(seqs) == 1


def test_recovery_through_another_node_lists_what_happened_elsewhere(shared_cluster, nodes,
                                                                     new_user):
    a, b, c = nodes
    uid = new_user()
    s = shared_cluster.ws(a, uid)
    ids = [b.notify_ok(user_id=uid, title="r%d" % i)["id"] for i in range(3)]
    seq = 0
    for _ in ids:
        seq = max(seq, s.expect("notification", timeout=5)["seq"])
    s.close()
    tok = b.token(uid)
    assert b.public("POST", "/v1/inbox/%d/read" % ids[0], token=tok).status == 200
    assert c.public("DELETE", "/v1/inbox/%d" % ids[1], token=tok).status == 204
    assert a.internal("DELETE", "/v1/notifications/%d" % ids[2]).status == 204
    hs = c.upgrade("?token=%s&since=%d&changes_since=%d" % (tok, ids[-1], seq))
    assert hs.status == 101
    sync = hs.client.expect("sync", timeout=5)
    assert [(x["type"], x["id"]) for x in sync["changes"]] == [
        ("changed", ids[0]), ("removed", ids[1]), ("removed", ids[2])]
    assert [x.get("reason") for x in sync["changes"]] == [None, "deleted", "retracted"]
    assert hs.client.expect("count", timeout=5)["unread"] == 0


def test_an_expiry_is_one_change_with_one_seq_on_every_node(shared_cluster, nodes, new_user):
    users = [new_user() for _ in nodes]
    socks = [shared_cluster.ws(n, u) for n, u in zip(nodes, users)]
    nid = nodes[0].notify_ok(user_id=-1, title="brief", ttl_s=2)["id"]
    for s in socks:
        s.expect("notification", timeout=5)
    seqs = set()
    deadline = time.monotonic() + 10
    for s in socks:
        f = s.wait_for(lambda f: f.get("type") == "removed" and f.get("id") == nid,
                       timeout=max(0.5, deadline - time.monotonic()))
        assert f["reason"] == "expired"
        seqs.add(f["seq"])
    assert len(seqs) == 1, "every node sends the seq of the one logged change: %r" % seqs
