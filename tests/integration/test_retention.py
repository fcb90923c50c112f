"""Expiry and retraction update inboxes and live counts (issue 3)."""
import time

from herald_http import assert_error


def test_an_expired_item_leaves_list_and_count_and_sockets_get_a_count_frame(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    keep = herald.notify_ok(user_id=uid, title="stays")["id"]
    short = herald.notify_ok(user_id=uid, title="brief", ttl_s=2)["id"]
    posted = time.monotonic()
    tab1, tab2 = herald.ws(uid), herald.ws(uid)
    assert tab1.initial_count == 2
    assert [n["id"] for n in herald.inbox(token)["notifications"]] == [short, keep]
    # Within 5 s of expires_at (2 s after creation) each socket learns the count dropped.
    for tab in (tab1, tab2):
        tab.wait_count(1, timeout=max(0.5, posted + 2 + 6 - time.monotonic()))
    assert time.monotonic() - posted >= 1.5, "count dropped before the item expired"
    assert [n["id"] for n in herald.inbox(token)["notifications"]] == [keep]
    assert herald.unread(token) == 1
    assert_error(herald.public("GET", "/v1/inbox/%d" % short, token=token), 404, "not_found")
    assert herald.stats()["notifications_stored"] == 1
    c = herald.ws(uid, since=0)
    assert [n["id"] for n in c.initial_sync["notifications"]] == [keep]


def test_an_expired_broadcast_updates_every_online_user(herald, new_user):
    a, b = new_user(), new_user()
    ca, cb = herald.ws(a), herald.ws(b)
    herald.wait_presence(a, 1)
    herald.wait_presence(b, 1)
    herald.notify_ok(user_id=-1, title="flash sale", ttl_s=2)
    posted = time.monotonic()
    for c in (ca, cb):
        assert c.expect("notification")["unread"] == 1
    for c in (ca, cb):
        c.wait_count(0, timeout=max(0.5, posted + 2 + 6 - time.monotonic()))
    assert herald.unread(herald.token(a)) == 0


def test_an_expired_item_that_was_read_changes_no_count(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    nid = herald.notify_ok(user_id=uid, title="brief", ttl_s=2)["id"]
    assert herald.public("POST", "/v1/inbox/%d/read" % nid, token=token).json == {"unread": 0}
    c = herald.ws(uid)
    assert c.initial_count == 0
    time.sleep(2.2)
    assert herald.inbox(token)["notifications"] == []
    assert herald.unread(token) == 0


def test_retraction_removes_the_item_everywhere_and_updates_online_counts(herald, new_user):
    a, b, c = new_user(), new_user(), new_user()
    ta, tb = herald.token(a), herald.token(b)
    bid = herald.notify_ok(user_id=-1, title="oops")["id"]
    pid = herald.notify_ok(user_id=a, title="mine")["id"]
    ca1, ca2, cb = herald.ws(a), herald.ws(a), herald.ws(b)
    assert (ca1.initial_count, cb.initial_count) == (2, 1)
    assert herald.public("POST", "/v1/inbox/%d/read" % bid, token=tb).json == {"unread": 0}
    cb.wait_count(0)
    r = herald.internal("DELETE", "/v1/notifications/%d" % bid)
    assert r.status == 204 and r.body == b""
    for tab in (ca1, ca2):
        tab.wait_count(1)
    # b had read it: b gets the retraction (API.md v1.1) but no count frame.
    f = cb.expect("removed")
    assert (f["id"], f["reason"]) == (bid, "retracted")
    cb.assert_silent(0.3)  # b's count does not change
    assert [n["id"] for n in herald.inbox(ta)["notifications"]] == [pid]
    assert herald.inbox(tb)["notifications"] == []
    assert herald.inbox(herald.token(c))["notifications"] == []
    assert_error(herald.public("GET", "/v1/inbox/%d" % bid, token=ta), 404, "not_found")
    assert_error(herald.internal("DELETE", "/v1/notifications/%d" % bid), 404, "not_found")
    # A personal retraction.
    assert herald.internal("DELETE", "/v1/notifications/%d" % pid).status == 204
    for tab in (ca1, ca2):
        tab.wait_count(0)
    assert herald.unread(ta) == 0


def test_retracting_an_unknown_id_is_404(shared_herald):
    assert_error(shared_herald.internal("DELETE", "/v1/notifications/987654321"), 404, "not_found")


def test_retracting_a_group_item_updates_its_members(herald, new_user):
    a = new_user()
    c = herald.ws(a, groups=["org/1"])
    herald.wait_presence(a, 1)
    gid = herald.notify_ok(audience="org/1", title="g")["id"]
    assert c.expect("notification")["unread"] == 1
    assert herald.internal("DELETE", "/v1/notifications/%d" % gid).status == 204
    c.wait_count(0)
