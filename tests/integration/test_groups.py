"""Group audiences reach exactly their members, judged by each token's groups (issue 3)."""
from herald_http import assert_error


def test_a_group_notification_reaches_exactly_the_members(herald, new_user):
    a, b, c, d = new_user(), new_user(), new_user(), new_user()
    ca = herald.ws(a, groups=["org/1", "role/3", "job/7"])
    cb = herald.ws(b, groups=["org/1"])
    cc = herald.ws(c, groups=["org/2", "role/3"])
    cd = herald.ws(d)
    for u in (a, b, c, d):
        herald.wait_presence(u, 1)
    r = herald.notify_ok(audience="role/3/org/1", title="for admins of org 1")
    assert r["online"] == 1
    f = ca.expect("notification")
    assert f["notification"]["kind"] == "group"
    assert f["notification"]["audience"] == "org/1/role/3"
    assert f["unread"] == 1
    for other in (cb, cc, cd):
        other.assert_silent(0.3)
    r = herald.notify_ok(audience="org/1", title="for org 1")
    assert r["online"] == 2
    assert ca.expect("notification")["unread"] == 2
    assert cb.expect("notification")["unread"] == 1
    cc.assert_silent(0.3)
    cd.assert_silent(0.1)
    assert [n["title"] for n in herald.inbox(herald.token(a, ["org/1", "role/3"]))["notifications"]] \
        == ["for org 1", "for admins of org 1"]
    assert [n["title"] for n in herald.inbox(herald.token(b, ["org/1"]))["notifications"]] \
        == ["for org 1"]
    assert herald.inbox(herald.token(c, ["org/2", "role/3"]))["notifications"] == []


def test_the_audience_comes_back_canonical(herald, new_user):
    uid = new_user()
    token = herald.token(uid, groups=["org/2", "org/1", "role/b", "role/a"])
    herald.notify_ok(audience="role/b/org/2/role/a/org/1", title="mixed")
    [item] = herald.inbox(token)["notifications"]
    assert item["audience"] == "org/1/org/2/role/a/role/b"


def test_membership_is_judged_on_the_token_presented(herald, new_user):
    uid = new_user()
    member, plain = herald.token(uid, ["team/red"]), herald.token(uid)
    nid = herald.notify_ok(audience="team/red", title="red team")["id"]
    assert [n["id"] for n in herald.inbox(member)["notifications"]] == [nid]
    assert herald.unread(member) == 1
    assert herald.inbox(plain)["notifications"] == []
    assert herald.unread(plain) == 0
    assert_error(herald.public("GET", "/v1/inbox/%d" % nid, token=plain), 404, "not_found")
    assert_error(herald.public("POST", "/v1/inbox/%d/read" % nid, token=plain), 404, "not_found")
    cp = herald.ws(token=plain)
    cm = herald.ws(token=member)
    assert (cp.initial_count, cm.initial_count) == (0, 1)


def test_someone_joining_later_sees_earlier_group_items(herald, new_user):
    nid = herald.notify_ok(audience="org/9", title="before you joined")["id"]
    newcomer = herald.token(new_user(), ["org/9"])
    assert [n["id"] for n in herald.inbox(newcomer)["notifications"]] == [nid]


def test_reading_a_group_item_is_per_user(herald, new_user):
    a, b = new_user(), new_user()
    ta, tb = herald.token(a, ["org/1"]), herald.token(b, ["org/1"])
    nid = herald.notify_ok(audience="org/1", title="g")["id"]
    assert herald.public("POST", "/v1/inbox/%d/read" % nid, token=ta).json == {"unread": 0}
    assert herald.unread(tb) == 1
    assert herald.public("DELETE", "/v1/inbox/%d" % nid, token=tb).status == 204
    assert herald.inbox(ta)["notifications"][0]["read"] is True


def test_invalid_entries_in_the_groups_claim_are_ignored(herald, new_user):
    u1, u2 = new_user(), new_user()
    # "org/1/role/3" is more than one pair: ignored, like the other bad entries.
    messy = herald.token(u1, ["org/1", "Bad Kind/1", 7, None, "role", "org/1/role/3", "x/a.b"])
    only_bad = herald.token(u2, ["org/1/role/3", "ROLE/3", {"org": 1}])
    c1 = herald.ws(token=messy)
    c2 = herald.ws(token=only_bad)
    herald.wait_presence(u1, 1)
    herald.wait_presence(u2, 1)
    r = herald.notify_ok(audience="org/1/role/3", title="needs both")
    assert r["online"] == 0
    r = herald.notify_ok(audience="org/1", title="org only")
    assert r["online"] == 1
    assert c1.expect("notification")["notification"]["title"] == "org only"
    c2.assert_silent(0.3)
    assert [n["title"] for n in herald.inbox(messy)["notifications"]] == ["org only"]
    assert herald.inbox(only_bad)["notifications"] == []


def test_audience_pairs_compare_as_sets(herald, new_user):
    uid = new_user()
    token = herald.token(uid, ["role/3", "org/1"])
    c = herald.ws(token=token)
    herald.wait_presence(uid, 1)
    assert herald.notify_ok(audience="org/1/role/3", title="a")["online"] == 1
    assert herald.notify_ok(audience="role/3/org/1", title="b")["online"] == 1
    assert c.expect("notification")["notification"]["audience"] == "org/1/role/3"
    assert c.expect("notification")["notification"]["audience"] == "org/1/role/3"


def test_a_transient_group_push_reaches_only_online_members(herald, new_user):
    a, b = new_user(), new_user()
    ca = herald.ws(a, groups=["org/1", "role/3"])
    cb = herald.ws(b, groups=["role/3"])
    herald.wait_presence(a, 1)
    herald.wait_presence(b, 1)
    r = herald.notify_ok(audience="org/1/role/3", title="pop", persist=False)
    assert r == {"id": None, "online": 1}
    assert ca.expect("desktop")["title"] == "pop"
    cb.assert_silent(0.4)
    assert herald.inbox(herald.token(a, ["org/1", "role/3"]))["notifications"] == []
