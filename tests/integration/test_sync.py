"""Catching up: `since` on connect and client `sync` frames (issue 3)."""


def _fill(d, uid, n, title="item"):
    r = d.internal("POST", "/v1/notify/batch",
                   {"notifications": [{"user_id": uid, "title": "%s %d" % (title, i)}
                                      for i in range(n)]})
    assert r.status == 200, r
    return [x["id"] for x in r.json["results"]]


def test_since_on_connect_sends_one_sync_frame_oldest_first_then_count(herald, new_user):
    uid = new_user()
    ids = _fill(herald, uid, 5)
    c = herald.ws(uid, since=ids[1])
    sync = c.initial_sync
    assert set(sync) == {"type", "notifications", "more"}
    assert [n["id"] for n in sync["notifications"]] == ids[2:]
    assert sync["more"] is False
    assert c.initial_count == 5
    c.assert_silent(0.3)
    # The sync items are the inbox items.
    token = herald.token(uid)
    listed = {n["id"]: n for n in herald.inbox(token)["notifications"]}
    for n in sync["notifications"]:
        # Sync items also carry their seq (API.md v1.1): an unread new item's is its id.
        assert n["seq"] == n["id"]
        assert {k: v for k, v in n.items() if k != "seq"} == listed[n["id"]]


def test_since_with_nothing_new_still_sends_an_empty_sync_before_count(herald, new_user):
    uid = new_user()
    ids = _fill(herald, uid, 2)
    c = herald.ws(uid, since=ids[-1])
    assert c.initial_sync == {"type": "sync", "notifications": [], "more": False}
    assert c.initial_count == 2


def test_since_zero_for_a_new_user_is_an_empty_sync(herald, new_user):
    c = herald.ws(new_user(), since=0)
    assert c.initial_sync["notifications"] == [] and c.initial_sync["more"] is False
    assert c.initial_count == 0


def test_sync_pages_hold_at_most_100_and_the_client_asks_for_more(herald, new_user):
    uid = new_user()
    ids = _fill(herald, uid, 120) + _fill(herald, uid, 85)
    c = herald.ws(uid, since=0)
    first = c.initial_sync
    assert [n["id"] for n in first["notifications"]] == ids[:100]
    assert first["more"] is True
    assert c.initial_count == 205
    got = [n["id"] for n in first["notifications"]]
    for expect_more in (True, False):
        c.send_json({"type": "sync", "since": got[-1]})
        page = c.expect("sync")
        got += [n["id"] for n in page["notifications"]]
        assert page["more"] is expect_more
    assert got == ids
    # A sync frame past the end is empty and has no more.
    c.send_json({"type": "sync", "since": ids[-1]})
    assert c.expect("sync") == {"type": "sync", "notifications": [], "more": False}


def test_exactly_100_items_fit_one_frame_without_more(herald, new_user):
    uid = new_user()
    ids = _fill(herald, uid, 100)
    c = herald.ws(uid, since=0)
    assert [n["id"] for n in c.initial_sync["notifications"]] == ids
    assert c.initial_sync["more"] is False


def test_sync_includes_broadcasts_and_my_groups_and_read_state_but_not_deleted(herald, new_user):
    uid = new_user()
    token = herald.token(uid, groups=["org/3"])
    p = herald.notify_ok(user_id=uid, title="p")["id"]
    b = herald.notify_ok(user_id=-1, title="b")["id"]
    g = herald.notify_ok(audience="org/3", title="g")["id"]
    herald.notify_ok(audience="org/4", title="other group")
    herald.notify_ok(user_id=uid + 1, title="someone else")
    gone = herald.notify_ok(user_id=uid, title="deleted")["id"]
    assert herald.public("POST", "/v1/inbox/%d/read" % b, token=token).status == 200
    assert herald.public("DELETE", "/v1/inbox/%d" % gone, token=token).status == 204
    c = herald.ws(token=token, since=0)
    items = c.initial_sync["notifications"]
    assert [n["id"] for n in items] == [p, b, g]
    assert [n["read"] for n in items] == [False, True, False]
    assert [n["kind"] for n in items] == ["personal", "broadcast", "group"]
    assert c.initial_count == 2


def test_a_client_sync_frame_without_since_on_connect(herald, new_user):
    uid = new_user()
    ids = _fill(herald, uid, 3)
    c = herald.ws(uid)
    assert c.initial_count == 3
    c.send_json({"type": "sync", "since": ids[0]})
    page = c.expect("sync")
    assert [n["id"] for n in page["notifications"]] == ids[1:] and page["more"] is False
