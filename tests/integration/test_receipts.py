"""Receipts and read rates (API.md v1.1): acks record deliveries, reads and deletes move the
item's stats (distinct users, kept as counters), items carry read_at / delivered_at, and the
internal listener lists the shared items sent with their stats."""
import re
import time

from herald_http import assert_error

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def item_stats(d, nid):
    r = d.internal("GET", "/v1/notifications/%d" % nid)
    assert r.status == 200, r
    return r.json["stats"]


def wait_stats(d, nid, want, timeout=6.0):
    """Acks take effect within 5 s."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = item_stats(d, nid)
        if got == want:
            return got
        time.sleep(0.1)
    raise AssertionError("stats of %d: want %r, got %r" % (nid, want, got))


def inbox_item(d, token, nid):
    r = d.public("GET", "/v1/inbox/%d?mark_read=false" % nid, token=token)
    assert r.status == 200, r
    return r.json


def test_a_broadcast_read_by_3_of_5_users_and_acked_by_4_has_exact_stats(herald, new_user):
    d = herald
    users = [new_user() for _ in range(5)]
    socks = {u: d.ws(u) for u in users}
    nid = d.notify_ok(user_id=-1, title="rates")["id"]
    for u in users:
        socks[u].wait_for(lambda f: f.get("type") == "notification", what="the broadcast")
    for u in users[:4]:
        socks[u].send_json({"type": "ack", "ids": [nid]})
    socks[users[0]].send_json({"type": "ack", "ids": [nid, nid]})  # one user twice: counts once
    socks[users[1]].send_json({"type": "ack", "ids": [nid]})
    for u in users[:4]:
        socks[u].assert_silent(0.3)  # an ack is never answered
    wait_stats(d, nid, {"delivered": 4, "read": 0, "deleted": 0})

    # Three reads by three paths; the second read of a user changes nothing.
    tokens = {u: d.token(u) for u in users}
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=tokens[users[0]]).status == 200
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=tokens[users[0]]).status == 200
    socks[users[1]].send_json({"type": "read", "id": nid})
    socks[users[1]].wait_for(lambda f: f.get("type") == "count", what="count after the read")
    assert d.public("GET", "/v1/inbox/%d" % nid, token=tokens[users[4]]).status == 200
    assert item_stats(d, nid) == {"delivered": 4, "read": 3, "deleted": 0}

    assert d.public("DELETE", "/v1/inbox/%d" % nid, token=tokens[users[2]]).status == 204
    assert d.public("DELETE", "/v1/inbox/%d" % nid, token=tokens[users[2]]).status == 404
    assert item_stats(d, nid) == {"delivered": 4, "read": 3, "deleted": 1}

    # The user's own view: delivered_at after the ack, read_at after the read.
    mine = inbox_item(d, tokens[users[0]], nid)
    assert RFC3339.match(mine["delivered_at"]) and RFC3339.match(mine["read_at"]), mine
    assert mine["read"] is True
    fresh = inbox_item(d, tokens[users[3]], nid)  # acked, not read
    assert RFC3339.match(fresh["delivered_at"]) and fresh["read_at"] is None, fresh
    never = d.inbox(tokens[users[4]])["notifications"][0]  # read without an ack
    assert never["id"] == nid and never["delivered_at"] is None and RFC3339.match(never["read_at"])
    for s in socks.values():
        s.close()


def test_a_personal_item_has_stats_of_0_or_1_and_its_user_id(herald, new_user):
    d = herald
    owner, other = new_user(), new_user()
    nid = d.notify_ok(user_id=owner, title="mine")["id"]
    r = d.internal("GET", "/v1/notifications/%d" % nid)
    assert r.status == 200, r
    assert r.json["user_id"] == owner and r.json["kind"] == "personal"
    assert r.json["stats"] == {"delivered": 0, "read": 0, "deleted": 0}

    # Another user's ack of it is ignored; the owner's counts.
    c = d.ws(other)
    c.send_json({"type": "ack", "ids": [nid]})
    mine = d.ws(owner)
    mine.send_json({"type": "ack", "ids": [nid, nid + 1000]})  # an unknown id is ignored too
    wait_stats(d, nid, {"delivered": 1, "read": 0, "deleted": 0})
    time.sleep(1.5)  # the other user's ack was in the same or an earlier flush
    assert item_stats(d, nid)["delivered"] == 1

    token = d.token(owner)
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=token).status == 200
    got = d.internal("GET", "/v1/notifications/%d" % nid).json
    assert got["stats"] == {"delivered": 1, "read": 1, "deleted": 0}
    assert RFC3339.match(got["read_at"]) and "delivered_at" not in got
    assert d.public("DELETE", "/v1/inbox/%d" % nid, token=token).status == 204
    assert item_stats(d, nid) == {"delivered": 1, "read": 1, "deleted": 1}
    c.close()
    mine.close()


def test_an_ack_of_a_group_item_by_a_non_member_is_ignored(herald, new_user):
    d = herald
    member, outsider = new_user(), new_user()
    nid = d.notify_ok(audience="org/7", title="org news")["id"]
    a = d.ws(member, groups=["org/7"])
    b = d.ws(outsider, groups=["org/8"])
    b.send_json({"type": "ack", "ids": [nid]})
    a.send_json({"type": "ack", "ids": [nid]})
    wait_stats(d, nid, {"delivered": 1, "read": 0, "deleted": 0})
    time.sleep(1.5)
    assert item_stats(d, nid)["delivered"] == 1
    a.close()
    b.close()


def test_read_all_counts_each_shared_item_once(herald, new_user):
    d = herald
    u = new_user()
    ids = [d.notify_ok(user_id=-1, title="b%d" % i)["id"] for i in range(3)]
    own = d.notify_ok(user_id=u, title="p")["id"]
    token = d.token(u)
    assert d.public("POST", "/v1/inbox/read_all", token=token).status == 200
    assert d.public("POST", "/v1/inbox/read_all", token=token).status == 200
    for nid in ids + [own]:
        assert item_stats(d, nid)["read"] == 1, nid
    page = d.inbox(token)["notifications"]
    assert all(RFC3339.match(n["read_at"]) for n in page), page


def test_a_malformed_ack_is_refused_and_a_good_one_is_silent(herald, new_user):
    d = herald
    c = d.ws(new_user())
    for bad in ({"type": "ack"}, {"type": "ack", "ids": []}, {"type": "ack", "ids": [0]},
                {"type": "ack", "ids": list(range(1, 102))}, {"type": "ack", "ids": "1"}):
        c.send_json(bad)
        f = c.expect("error")
        assert f["code"] == "invalid_argument", f
    c.send_json({"type": "ack", "ids": list(range(1, 101))})
    c.assert_silent(0.5)
    c.close()


def test_get_notification_404_for_unknown_and_retracted(herald, new_user):
    d = herald
    nid = d.notify_ok(user_id=-1, title="gone soon")["id"]
    assert d.internal("GET", "/v1/notifications/%d" % nid).status == 200
    assert d.internal("DELETE", "/v1/notifications/%d" % nid).status == 204
    assert_error(d.internal("GET", "/v1/notifications/%d" % nid), 404, "not_found")
    assert_error(d.internal("GET", "/v1/notifications/%d" % (nid + 999)), 404, "not_found")
    assert_error(d.internal("GET", "/v1/notifications/abc"), 404, "not_found")
    assert_error(d.internal("GET", "/v1/notifications/1", key=False), 401, "unauthenticated")


def test_list_of_sent_items_with_stats_filters_and_pages(herald, new_user):
    d = herald
    u = new_user()
    b1 = d.notify_ok(user_id=-1, title="b1")["id"]
    g1 = d.notify_ok(audience="role/3/org/1", title="g1")["id"]
    d.notify_ok(user_id=u, title="personal: not listed")
    b2 = d.notify_ok(user_id=-1, title="b2")["id"]
    retracted = d.notify_ok(user_id=-1, title="retracted")["id"]
    assert d.internal("DELETE", "/v1/notifications/%d" % retracted).status == 204
    assert d.public("POST", "/v1/inbox/%d/read" % b1, token=d.token(u)).status == 200

    r = d.internal("GET", "/v1/notifications")
    assert r.status == 200, r
    got = r.json
    assert [n["id"] for n in got["notifications"]] == [b2, g1, b1]
    assert got["next_before"] is None
    by_id = {n["id"]: n for n in got["notifications"]}
    assert by_id[b1]["stats"] == {"delivered": 0, "read": 1, "deleted": 0}
    assert by_id[g1]["audience"] == "org/1/role/3" and by_id[g1]["kind"] == "group"
    assert by_id[b2]["stats"] == {"delivered": 0, "read": 0, "deleted": 0}

    only_b = d.internal("GET", "/v1/notifications?kind=broadcast").json
    assert [n["id"] for n in only_b["notifications"]] == [b2, b1]
    only_g = d.internal("GET", "/v1/notifications?kind=group").json
    assert [n["id"] for n in only_g["notifications"]] == [g1]
    first = d.internal("GET", "/v1/notifications?kind=all&limit=2").json
    assert [n["id"] for n in first["notifications"]] == [b2, g1]
    assert first["next_before"] == g1
    rest = d.internal("GET", "/v1/notifications?limit=2&before=%d" % g1).json
    assert [n["id"] for n in rest["notifications"]] == [b1] and rest["next_before"] is None


def test_list_of_sent_items_refuses_bad_parameters(herald):
    d = herald
    assert_error(d.internal("GET", "/v1/notifications?kind=personal"), 400, "invalid_argument", "kind")
    assert_error(d.internal("GET", "/v1/notifications?kind=nope"), 400, "invalid_argument", "kind")
    assert_error(d.internal("GET", "/v1/notifications?limit=0"), 400, "invalid_argument", "limit")
    assert_error(d.internal("GET", "/v1/notifications?limit=101"), 400, "invalid_argument", "limit")
    assert_error(d.internal("GET", "/v1/notifications?before=x"), 400, "invalid_argument", "before")
    assert_error(d.internal("POST", "/v1/notifications", {}), 405, "method_not_allowed")
    assert_error(d.internal("GET", "/v1/notifications", key=False), 401, "unauthenticated")


def test_new_items_carry_null_receipts(herald, new_user):
    d = herald
    u = new_user()
    c = d.ws(u)
    d.notify_ok(user_id=u, title="fresh")
    f = c.wait_for(lambda f: f.get("type") == "notification", what="the push")
    assert f["notification"]["read_at"] is None and f["notification"]["delivered_at"] is None
    item = d.inbox(d.token(u))["notifications"][0]
    assert item["read_at"] is None and item["delivered_at"] is None
    c.close()
