"""Revocation crosses nodes: DELETE /v1/users/{id}/connections on one node closes the user's
sockets on every node with 4003 `revoked`, and no other user's."""
import time

from herald_cluster import wait_until


def test_revoking_through_another_node_closes_the_sockets_on_this_one(shared_cluster, new_user):
    a, b, c = shared_cluster.nodes
    user, other = new_user(), new_user()
    on_a = shared_cluster.ws(a, user)
    on_c = shared_cluster.ws(c, user)
    bystander = shared_cluster.ws(a, other)
    # `closed` counts the other nodes' sockets from presence: let it see both.
    b.wait_presence(user, 2, timeout=10)
    started = time.monotonic()
    r = b.internal("DELETE", "/v1/users/%d/connections" % user)
    assert r.status == 200, r
    assert r.json == {"closed": 2}, r.json
    assert on_a.close_frame(3.0) == (4003, "revoked")
    assert on_c.close_frame(3.0) == (4003, "revoked")
    assert time.monotonic() - started < 3.0
    # The other user on the same node keeps the connection.
    bystander.send_json({"type": "ping"})
    bystander.wait_for(lambda f: f.get("type") == "pong", 3.0, "pong")
    wait_until("user %d gone from presence" % user,
               lambda: a.presence(user)["connections"] == 0, timeout=10)
    assert b.notify_ok(user_id=other, title="still here")["online"] == 1
    bystander.expect("notification", timeout=5)


def test_revoking_on_the_node_that_holds_the_socket_counts_it_at_once(shared_cluster, new_user):
    a, b, _ = shared_cluster.nodes
    user = new_user()
    s = shared_cluster.ws(a, user)
    # Asked at once, before presence may have caught up: the local socket is counted anyway.
    r = a.internal("DELETE", "/v1/users/%d/connections" % user)
    assert r.status == 200 and r.json["closed"] >= 1, r
    assert s.close_frame(3.0) == (4003, "revoked")
