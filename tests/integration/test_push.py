"""Pushing to connected users: personal, many users, broadcast, online counts (issue 2)."""
import json

import websocket  # Debian's python3-websocket: a standard client must interoperate


def test_a_transient_push_reaches_both_tabs_of_the_user_and_nobody_else(herald, new_user):
    alice, bob = new_user(), new_user()
    tab1, tab2 = herald.ws(alice), herald.ws(alice)
    other = herald.ws(bob)
    herald.wait_presence(alice, 2)
    r = herald.notify_ok(user_id=alice, title="Hello", content="two tabs", persist=False,
                         data={"k": [1, 2]})
    assert r == {"id": None, "online": 2}
    for tab in (tab1, tab2):
        frame = tab.expect("desktop")
        assert frame == {"type": "desktop", "title": "Hello", "content": "two tabs",
                         "data": {"k": [1, 2]}}
    other.assert_silent(0.5)
    # Nothing was stored and the count did not change.
    token = herald.token(alice)
    assert herald.inbox(token)["notifications"] == []
    assert herald.unread(token) == 0
    tab1.assert_silent(0.3)


def test_a_standard_websocket_client_receives_pushes(herald, new_user):
    uid = new_user()
    url = "ws://127.0.0.1:%d/v1/ws?token=%s" % (herald.public_port, herald.token(uid))
    ws = websocket.create_connection(url, timeout=5)
    try:
        assert json.loads(ws.recv()) == {"type": "count", "unread": 0}
        herald.wait_presence(uid, 1)
        herald.notify_ok(user_id=uid, title="via websocket-client", persist=False)
        frame = json.loads(ws.recv())
        assert frame["type"] == "desktop" and frame["title"] == "via websocket-client"
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv()) == {"type": "pong"}
    finally:
        ws.close()


def test_a_desktop_frame_without_data_has_no_data_and_content_defaults_to_empty(herald, new_user):
    uid = new_user()
    c = herald.ws(uid)
    herald.wait_presence(uid, 1)
    herald.notify_ok(user_id=uid, title="bare", persist=False)
    frame = c.expect("desktop")
    assert frame["title"] == "bare"
    assert frame.get("content", "") == ""
    assert "data" not in frame or frame["data"] is None


def test_a_broadcast_reaches_every_connected_user(herald, new_user):
    users = [new_user() for _ in range(5)]
    clients = [herald.ws(u) for u in users]
    extra_tab = herald.ws(users[0])
    for u in users:
        herald.wait_presence(u, 2 if u == users[0] else 1)
    r = herald.notify_ok(user_id=-1, title="Maintenance", content="at noon", persist=False)
    assert r == {"id": None, "online": 6}
    for c in clients + [extra_tab]:
        frame = c.expect("desktop")
        assert frame["title"] == "Maintenance" and frame["content"] == "at noon"


def test_audience_star_is_a_broadcast(herald, new_user):
    a, b = new_user(), new_user()
    ca, cb = herald.ws(a), herald.ws(b)
    herald.wait_presence(a, 1)
    herald.wait_presence(b, 1)
    r = herald.notify_ok(audience="*", title="everyone")
    assert isinstance(r["id"], int) and r["online"] == 2
    for c in (ca, cb):
        frame = c.expect("notification")
        assert frame["notification"]["kind"] == "broadcast"
        assert "audience" not in frame["notification"]
        assert frame["unread"] == 1


def test_online_is_zero_when_the_user_has_no_connection(herald, new_user):
    r = herald.notify_ok(user_id=new_user(), title="offline", persist=False)
    assert r == {"id": None, "online": 0}


def test_online_counts_drop_when_a_tab_closes(herald, new_user):
    uid = new_user()
    tab1, tab2 = herald.ws(uid), herald.ws(uid)
    herald.wait_presence(uid, 2)
    tab1.close()
    herald.wait_presence(uid, 1)
    assert herald.notify_ok(user_id=uid, title="x", persist=False)["online"] == 1
    tab2.expect("desktop")


def test_user_ids_pushes_to_each_listed_user_and_answers_ids_in_order(herald, new_user):
    a, b, c, absent = new_user(), new_user(), new_user(), new_user()
    ca1, ca2, cb, cc = herald.ws(a), herald.ws(a), herald.ws(b), herald.ws(c)
    herald.wait_presence(a, 2)
    herald.wait_presence(b, 1)
    r = herald.notify_ok(user_ids=[b, absent, a], title="to some")
    assert r["online"] == 3
    ids = r["ids"]
    assert len(ids) == 3 and all(isinstance(i, int) for i in ids) and len(set(ids)) == 3
    for client, expected_id in ((ca1, ids[2]), (ca2, ids[2]), (cb, ids[0])):
        frame = client.expect("notification")
        assert frame["notification"]["id"] == expected_id and frame["unread"] == 1
    cc.assert_silent(0.5)
    for user, expected_id in ((b, ids[0]), (absent, ids[1]), (a, ids[2])):
        box = herald.inbox(herald.token(user))
        assert [n["id"] for n in box["notifications"]] == [expected_id]
        assert box["notifications"][0]["kind"] == "personal"
    assert herald.inbox(herald.token(c))["notifications"] == []


def test_user_ids_without_persist_answers_nulls(herald, new_user):
    a, b = new_user(), new_user()
    ca = herald.ws(a)
    herald.wait_presence(a, 1)
    r = herald.notify_ok(user_ids=[a, b], title="t", persist=False)
    assert r == {"ids": [None, None], "online": 1}
    ca.expect("desktop")


def test_a_persisted_notification_frame_carries_the_item_and_the_new_count(herald, new_user):
    uid = new_user()
    tab1, tab2 = herald.ws(uid), herald.ws(uid)
    herald.wait_presence(uid, 2)
    first = herald.notify_ok(user_id=uid, title="one")
    second = herald.notify_ok(user_id=uid, title="two", desktop=False)
    for tab in (tab1, tab2):
        f1 = tab.expect("notification")
        # v1.1: the frame also carries the item's seq (a new item's is its id).
        assert set(f1) == {"type", "notification", "unread", "seq"}
        assert f1["seq"] == f1["notification"]["id"]
        assert f1["notification"]["id"] == first["id"] and f1["unread"] == 1
        assert f1["notification"]["desktop"] is True
        f2 = tab.expect("notification")
        assert f2["notification"]["id"] == second["id"] and f2["unread"] == 2
        assert f2["notification"]["desktop"] is False
    token = herald.token(uid)
    stored = herald.public("GET", "/v1/inbox/%d?mark_read=false" % first["id"], token=token).json
    assert stored == f1["notification"]


def test_pushes_follow_each_connection_token_groups(herald, new_user):
    uid = new_user()
    member = herald.ws(token=herald.token(uid, ["org/1"]))
    plain = herald.ws(token=herald.token(uid))
    herald.wait_presence(uid, 2)
    r = herald.notify_ok(audience="org/1", title="members only")
    assert r["online"] == 1
    frame = member.expect("notification")
    assert frame["notification"]["title"] == "members only" and frame["unread"] == 1
    plain.assert_silent(0.5)
    assert herald.notify_ok(user_id=uid, title="personal", persist=False)["online"] == 2
    member.expect("desktop")
    plain.expect("desktop")
