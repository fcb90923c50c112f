"""The inbox: item format, reading, deleting, paging and isolation between users (issue 3)."""
import datetime
import re
import time

import pytest

from herald_http import assert_error

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
ITEM_KEYS = {"id", "kind", "title", "content", "sender", "created_at", "read", "retention",
             "expires_at", "desktop",
             "read_at", "delivered_at"}  # v1.1 receipts


def parse_time(text):
    assert TIME_RE.match(text), "not RFC 3339 UTC with milliseconds: %r" % text
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)


def test_a_persisted_notify_answers_its_id_and_the_inbox_lists_it_exactly(herald, new_user):
    uid = new_user()
    before = datetime.datetime.now(datetime.timezone.utc)
    r = herald.notify_ok(user_id=uid, title="Order shipped", content="Your order #7",
                         sender="orders", data={"order": 7, "tags": ["a"]})
    assert set(r) == {"id", "online"} and isinstance(r["id"], int) and r["id"] > 0
    assert r["online"] == 0
    box = herald.inbox(herald.token(uid))
    assert set(box) == {"notifications", "next_before", "unread"}
    assert box["unread"] == 1 and box["next_before"] is None
    [item] = box["notifications"]
    assert set(item) == ITEM_KEYS | {"data"}
    assert item["id"] == r["id"]
    assert item["kind"] == "personal"
    assert item["title"] == "Order shipped" and item["content"] == "Your order #7"
    assert item["sender"] == "orders"
    assert item["data"] == {"order": 7, "tags": ["a"]}
    assert item["read"] is False and item["desktop"] is True
    assert item["retention"] == "normal"
    created = parse_time(item["created_at"])
    assert abs((created - before).total_seconds()) < 30
    expires = parse_time(item["expires_at"])
    assert abs((expires - created).total_seconds() - 90 * 86400) < 2


def test_defaults_null_sender_no_data_empty_content(herald, new_user):
    uid = new_user()
    herald.notify_ok(user_id=uid, title="bare")
    [item] = herald.inbox(herald.token(uid))["notifications"]
    assert set(item) == ITEM_KEYS, item
    assert item["sender"] is None
    assert item["content"] == ""
    assert "data" not in item


def test_ttl_and_important_set_expires_at(herald, new_user):
    uid = new_user()
    herald.notify_ok(user_id=uid, title="short", ttl_s=3600)
    herald.notify_ok(user_id=uid, title="keep", retention="important")
    keep, short = herald.inbox(herald.token(uid))["notifications"]
    assert keep["retention"] == "important" and keep["expires_at"] is None
    assert short["retention"] == "normal"
    delta = parse_time(short["expires_at"]) - parse_time(short["created_at"])
    assert abs(delta.total_seconds() - 3600) < 2


def test_the_retention_window_setting_sets_the_default_expiry(launch, new_user):
    d = launch(env={"HERALD_RETENTION_DAYS": "7"})
    uid = new_user()
    d.notify_ok(user_id=uid, title="week")
    [item] = d.inbox(d.token(uid))["notifications"]
    delta = parse_time(item["expires_at"]) - parse_time(item["created_at"])
    assert abs(delta.total_seconds() - 7 * 86400) < 2


def test_ids_increase_across_users_and_kinds(herald, new_user):
    a, b = new_user(), new_user()
    ids = [herald.notify_ok(user_id=a, title="1")["id"], herald.notify_ok(user_id=-1, title="2")["id"],
           herald.notify_ok(user_id=b, title="3")["id"], herald.notify_ok(audience="org/1", title="4")["id"],
           herald.notify_ok(user_ids=[a, b], title="5")["ids"][1]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


def test_unread_count_and_a_count_frame_on_connect(herald, new_user):
    uid = new_user()
    for i in range(3):
        herald.notify_ok(user_id=uid, title="n%d" % i)
    herald.notify_ok(user_id=-1, title="everyone")
    token = herald.token(uid)
    assert herald.unread(token) == 4
    c = herald.ws(uid)
    assert c.initial_count == 4


def test_reading_updates_count_frames_on_every_socket_of_the_user(herald, new_user):
    uid, other = new_user(), new_user()
    token = herald.token(uid)
    ids = [herald.notify_ok(user_id=uid, title="n%d" % i)["id"] for i in range(4)]
    bystander = herald.ws(other)
    tab1, tab2 = herald.ws(uid), herald.ws(uid)
    assert tab1.initial_count == tab2.initial_count == 4
    # HTTP read
    r = herald.public("POST", "/v1/inbox/%d/read" % ids[0], token=token)
    assert r.status == 200 and r.json == {"unread": 3}
    for tab in (tab1, tab2):
        # The state frame first (API.md v1.1), then the count it causes.
        assert tab.expect("changed")["id"] == ids[0]
        assert tab.expect("count") == {"type": "count", "unread": 3}
    # Reading twice changes nothing.
    r = herald.public("POST", "/v1/inbox/%d/read" % ids[0], token=token)
    assert r.status == 200 and r.json == {"unread": 3}
    # Frame read from one tab reaches both.
    tab1.send_json({"type": "read", "id": ids[1]})
    for tab in (tab1, tab2):
        tab.wait_count(2)
    tab2.send_json({"type": "read", "id": ids[1]})  # twice: nothing changes
    # Frame delete of an unread item.
    tab2.send_json({"type": "delete", "id": ids[2]})
    for tab in (tab1, tab2):
        tab.wait_count(1)
    # HTTP delete of the last unread one.
    r = herald.public("DELETE", "/v1/inbox/%d" % ids[3], token=token)
    assert r.status == 204 and r.body == b""
    for tab in (tab1, tab2):
        tab.wait_count(0)
    assert herald.unread(token) == 0
    box = herald.inbox(token)
    assert [n["id"] for n in box["notifications"]] == [ids[1], ids[0]]
    assert all(n["read"] for n in box["notifications"])
    bystander.assert_silent(0.3)


def test_read_all_by_http_and_by_frame(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    for i in range(3):
        herald.notify_ok(user_id=uid, title="n%d" % i)
    herald.notify_ok(user_id=-1, title="b")
    herald.notify_ok(audience="team/x", title="g")
    tab1, tab2 = herald.ws(uid), herald.ws(uid)
    assert tab1.initial_count == 4
    r = herald.public("POST", "/v1/inbox/read_all", token=token)
    assert r.status == 200 and r.json == {"unread": 0}
    for tab in (tab1, tab2):
        tab.wait_count(0)
    assert all(n["read"] for n in herald.inbox(token)["notifications"])
    herald.notify_ok(user_id=uid, title="later")
    for tab in (tab1, tab2):
        assert tab.expect("notification")["unread"] == 1
    tab2.send_json({"type": "read_all"})
    for tab in (tab1, tab2):
        tab.wait_count(0)
    assert herald.unread(token) == 0
    # A broadcast read by this user stays unread for everyone else.
    assert herald.unread(herald.token(new_user())) == 1


def test_get_item_marks_it_read_unless_told_to_only_look(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    nid = herald.notify_ok(user_id=uid, title="look")["id"]
    c = herald.ws(uid)
    r = herald.public("GET", "/v1/inbox/%d?mark_read=false" % nid, token=token)
    assert r.status == 200 and r.json["id"] == nid and r.json["read"] is False
    assert herald.unread(token) == 1
    c.assert_silent(0.3)
    r = herald.public("GET", "/v1/inbox/%d" % nid, token=token)
    assert r.status == 200
    assert r.json["read"] is True and r.json["title"] == "look"
    assert set(r.json) == ITEM_KEYS
    c.wait_count(0)
    assert herald.unread(token) == 0
    r = herald.public("GET", "/v1/inbox/%d" % nid, token=token)
    assert r.status == 200 and r.json["read"] is True


def test_another_user_gets_404_for_my_items_and_changes_nothing(herald, new_user):
    alice, bob = new_user(), new_user()
    ta, tb = herald.token(alice), herald.token(bob)
    nid = herald.notify_ok(user_id=alice, title="private")["id"]
    for method, path in (("GET", "/v1/inbox/%d" % nid), ("GET", "/v1/inbox/%d?mark_read=false" % nid),
                         ("POST", "/v1/inbox/%d/read" % nid), ("DELETE", "/v1/inbox/%d" % nid)):
        assert_error(herald.public(method, path, token=tb), 404, "not_found")
    cb = herald.ws(bob)
    cb.send_json({"type": "read", "id": nid})
    assert cb.expect("error")["code"] == "not_found"
    cb.send_json({"type": "delete", "id": nid})
    assert cb.expect("error")["code"] == "not_found"
    cb.send_json({"type": "sync", "since": 0})
    assert cb.expect("sync")["notifications"] == []
    box = herald.inbox(ta)
    assert [(n["id"], n["read"]) for n in box["notifications"]] == [(nid, False)]
    assert box["unread"] == 1
    assert herald.inbox(tb) == {"notifications": [], "next_before": None, "unread": 0}


@pytest.mark.parametrize("path", ["/v1/inbox/99999999", "/v1/inbox/99999999/read"])
def test_an_unknown_id_is_404(shared_herald, new_user, path):
    method = "GET" if path.count("/") == 3 else "POST"
    assert_error(shared_herald.public(method, path, token=shared_herald.token(new_user())),
                 404, "not_found")
    assert_error(shared_herald.public("DELETE", "/v1/inbox/99999999",
                                      token=shared_herald.token(new_user())), 404, "not_found")


def test_a_deleted_item_is_gone_for_that_user_only(herald, new_user):
    a, b = new_user(), new_user()
    ta, tb = herald.token(a), herald.token(b)
    bid = herald.notify_ok(user_id=-1, title="all")["id"]
    assert herald.public("DELETE", "/v1/inbox/%d" % bid, token=ta).status == 204
    assert herald.inbox(ta)["notifications"] == [] and herald.unread(ta) == 0
    assert_error(herald.public("GET", "/v1/inbox/%d" % bid, token=ta), 404, "not_found")
    assert_error(herald.public("DELETE", "/v1/inbox/%d" % bid, token=ta), 404, "not_found")
    assert [n["id"] for n in herald.inbox(tb)["notifications"]] == [bid]
    assert herald.unread(tb) == 1


# ---- paging -------------------------------------------------------------------------------

def _fill(d, uid, n):
    r = d.internal("POST", "/v1/notify/batch",
                   {"notifications": [{"user_id": uid, "title": "item %d" % i} for i in range(n)]})
    assert r.status == 200, r
    ids = [x["id"] for x in r.json["results"]]
    assert all(isinstance(i, int) for i in ids)
    return ids


def test_paging_walks_newest_first_with_next_before(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    ids = _fill(herald, uid, 45)
    page = herald.inbox(token)
    assert len(page["notifications"]) == 20  # default limit
    got = [n["id"] for n in page["notifications"]]
    assert got == sorted(ids, reverse=True)[:20]
    assert page["unread"] == 45
    seen = list(got)
    while page["next_before"] is not None:
        page = herald.inbox(token, "?before=%d" % page["next_before"])
        seen += [n["id"] for n in page["notifications"]]
        assert len(seen) <= 45
    assert seen == sorted(ids, reverse=True)
    page = herald.inbox(token, "?limit=100")
    assert len(page["notifications"]) == 45 and page["next_before"] is None
    page = herald.inbox(token, "?limit=45")
    assert len(page["notifications"]) == 45 and page["next_before"] is None
    page = herald.inbox(token, "?limit=44")
    assert page["next_before"] is not None
    rest = herald.inbox(token, "?limit=44&before=%d" % page["next_before"])
    assert [n["id"] for n in rest["notifications"]] == [min(ids)] and rest["next_before"] is None
    page = herald.inbox(token, "?limit=1")
    assert [n["id"] for n in page["notifications"]] == [max(ids)]


def test_status_and_kind_filter_while_unread_stays_the_total(herald, new_user):
    uid = new_user()
    token = herald.token(uid, groups=["org/5"])
    p1 = herald.notify_ok(user_id=uid, title="p1")["id"]
    p2 = herald.notify_ok(user_id=uid, title="p2")["id"]
    b1 = herald.notify_ok(user_id=-1, title="b1")["id"]
    g1 = herald.notify_ok(audience="org/5", title="g1")["id"]
    herald.notify_ok(audience="org/6", title="not mine")
    assert herald.public("POST", "/v1/inbox/%d/read" % p1, token=token).json == {"unread": 3}
    assert herald.public("POST", "/v1/inbox/%d/read" % b1, token=token).json == {"unread": 2}

    def ids(q):
        box = herald.inbox(token, q)
        assert box["unread"] == 2, (q, box)
        return [n["id"] for n in box["notifications"]]

    assert ids("") == [g1, b1, p2, p1]
    assert ids("?status=all&kind=all") == [g1, b1, p2, p1]
    assert ids("?status=unread") == [g1, p2]
    assert ids("?kind=personal") == [p2, p1]
    assert ids("?kind=broadcast") == [b1]
    assert ids("?kind=group") == [g1]
    assert ids("?kind=personal&status=unread") == [p2]
    assert ids("?status=unread&limit=1") == [g1]
    page = herald.inbox(token, "?status=unread&limit=1")
    assert page["next_before"] is not None
    nxt = herald.inbox(token, "?status=unread&limit=1&before=%d" % page["next_before"])
    assert [n["id"] for n in nxt["notifications"]] == [p2] and nxt["next_before"] is None
    assert ids("?before=%d" % b1) == [p2, p1]


@pytest.mark.parametrize("query,field", [
    ("?limit=0", "limit"), ("?limit=101", "limit"), ("?limit=abc", "limit"), ("?limit=-1", "limit"),
    ("?limit=", "limit"), ("?before=abc", "before"), ("?before=-4", "before"),
    ("?status=read", "status"), ("?status=", "status"), ("?kind=everyone", "kind"),
    ("?kind=PERSONAL", "kind"),
])
def test_bad_inbox_parameters_are_400_naming_them(shared_herald, new_user, query, field):
    r = shared_herald.public("GET", "/v1/inbox" + query, token=shared_herald.token(new_user()))
    assert_error(r, 400, "invalid_argument", field)
