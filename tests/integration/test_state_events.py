"""State events: `changed`, `read_all` and `removed` frames with a system-wide `seq`, before the
`count` frame they cause, to every connection of the user and never to another user; recovery
with `changes_since` (API.md v1.1 "State events")."""
import time

import pytest

from herald_http import assert_error
from test_config import assert_refused_naming, run_refused


def _open(d, uid, n=2, groups=None):
    conns = [d.ws(uid, groups=groups) for _ in range(n)]
    d.wait_presence(uid, n)
    return conns


def _tabs_and_bystander(d, new_user, groups=None):
    """A user with two connections (tabs) and another user with one, who must see nothing of
    the first one's changes: (uid, other, mine, theirs)."""
    uid, other = new_user(), new_user()
    mine = _open(d, uid, 2, groups=groups)
    [theirs] = _open(d, other, 1, groups=groups)
    return uid, other, mine, theirs


def _all_silent(conns, duration=0.4):
    for c in conns:
        c.assert_silent(duration)


def _note(d, conns, **body):
    """Notifies; every socket in `conns` gets the notification frame. Returns (id, seq)."""
    nid = d.notify_ok(**body)["id"]
    seqs = set()
    for c in conns:
        f = c.expect("notification")
        assert f["notification"]["id"] == nid
        seqs.add(f["seq"])
    assert len(seqs) <= 1
    return nid, (seqs.pop() if seqs else None)


def _state_then_count(c, frame_type, unread=None, timeout=3.0):
    """The next frame is the state frame, the one after it the count frame it causes."""
    f = c.expect(frame_type, timeout)
    count = c.expect("count", timeout)
    if unread is not None:
        assert count["unread"] == unread
    return f


def test_notification_frames_carry_a_seq_at_top_level(herald, new_user):
    uid = new_user()
    [c] = _open(herald, uid, 1)
    a, sa = _note(herald, [c], user_id=uid, title="a")
    b, sb = _note(herald, [c], user_id=uid, title="b")
    assert isinstance(sa, int) and sa > 0 and sb > sa


def test_an_http_read_sends_changed_before_count_to_every_connection_of_that_user_only(
        herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    nid, nseq = _note(herald, mine, user_id=uid, title="hello")
    _note(herald, mine, user_id=uid, title="stays unread")
    r = herald.public("POST", "/v1/inbox/%d/read" % nid, token=herald.token(uid))
    assert r.status == 200 and r.json == {"unread": 1}
    seqs = set()
    for c in mine:
        f = _state_then_count(c, "changed", unread=1)
        assert set(f) == {"type", "id", "read", "seq"}
        assert f["id"] == nid and f["read"] is True and f["seq"] > nseq
        seqs.add(f["seq"])
    assert len(seqs) == 1, "every connection gets the same change"
    theirs.assert_silent(0.5)
    # Reading again changes nothing: no frame at all.
    assert herald.public("POST", "/v1/inbox/%d/read" % nid, token=herald.token(uid)).status == 200
    _all_silent(mine)


def test_a_frame_read_sends_changed_to_every_tab_before_count(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    nid, nseq = _note(herald, mine, user_id=uid, title="x")
    mine[0].send_json({"type": "read", "id": nid})
    for c in mine:
        f = _state_then_count(c, "changed", unread=0)
        assert f["id"] == nid and f["seq"] > nseq
    theirs.assert_silent(0.4)
    mine[1].send_json({"type": "read", "id": nid})
    _all_silent(mine)


def test_get_item_marks_it_read_and_sends_changed_but_mark_read_false_sends_nothing(
        herald, new_user):
    uid = new_user()
    conns = _open(herald, uid, 2)
    nid, _ = _note(herald, conns, user_id=uid, title="look")
    token = herald.token(uid)
    assert herald.public("GET", "/v1/inbox/%d?mark_read=false" % nid, token=token).status == 200
    _all_silent(conns)
    r = herald.public("GET", "/v1/inbox/%d" % nid, token=token)
    assert r.status == 200 and r.json["read"] is True
    for c in conns:
        assert _state_then_count(c, "changed", unread=0)["id"] == nid
    assert herald.public("GET", "/v1/inbox/%d" % nid, token=token).status == 200
    _all_silent(conns)


def test_shared_items_read_by_one_user_change_only_that_users_connections(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user, groups=["org/5"])
    b, _ = _note(herald, mine + [theirs], user_id=-1, title="all")
    g, _ = _note(herald, mine + [theirs], audience="org/5", title="org")
    mine[0].send_json({"type": "read", "id": b})
    for c in mine:
        assert _state_then_count(c, "changed", unread=1)["id"] == b
    herald.public("POST", "/v1/inbox/%d/read" % g, token=herald.token(uid, groups=["org/5"]))
    for c in mine:
        assert _state_then_count(c, "changed", unread=0)["id"] == g
    theirs.assert_silent(0.4)


def test_read_all_sends_up_to_at_least_the_newest_item_then_count(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    _note(herald, mine, user_id=uid, title="1")
    _note(herald, mine, user_id=-1, title="2", )
    theirs.expect("notification")
    newest, nseq = _note(herald, mine, user_id=uid, title="3")
    r = herald.public("POST", "/v1/inbox/read_all", token=herald.token(uid))
    assert r.status == 200 and r.json == {"unread": 0}
    for c in mine:
        f = _state_then_count(c, "read_all", unread=0)
        assert set(f) == {"type", "up_to", "seq"}
        assert f["up_to"] >= newest and f["seq"] > nseq
    theirs.assert_silent(0.4)
    # A later item stays unread.
    later, _ = _note(herald, mine, user_id=uid, title="later")
    assert later > f["up_to"] or later > newest
    assert herald.unread(herald.token(uid)) == 1
    # The frame read_all, with nothing unread left after it, sends nothing more than once.
    mine[0].send_json({"type": "read_all"})
    for c in mine:
        assert _state_then_count(c, "read_all", unread=0)["up_to"] >= later
    mine[0].send_json({"type": "read_all"})
    _all_silent(mine)


def test_a_delete_sends_removed_deleted_before_count_to_that_user_only(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    nid, nseq = _note(herald, mine, user_id=uid, title="bye")
    b, _ = _note(herald, mine + [theirs], user_id=-1, title="everyone")
    assert herald.public("DELETE", "/v1/inbox/%d" % nid, token=herald.token(uid)).status == 204
    for c in mine:
        f = _state_then_count(c, "removed", unread=1)
        assert f == {"type": "removed", "id": nid, "reason": "deleted", "seq": f["seq"]}
        assert f["seq"] > nseq
    mine[1].send_json({"type": "delete", "id": b})
    for c in mine:
        f = _state_then_count(c, "removed", unread=0)
        assert f["id"] == b and f["reason"] == "deleted"
    theirs.assert_silent(0.4)
    assert herald.unread(herald.token(other)) == 1


def test_retraction_reaches_every_connection_that_could_see_it_read_or_not(herald, new_user):
    a, b, outsider = new_user(), new_user(), new_user()
    ca = _open(herald, a, 2, groups=["team/1"])
    [cb] = _open(herald, b, 1, groups=["team/1"])
    [co] = _open(herald, outsider, 1, groups=["team/2"])
    g, gseq = _note(herald, ca + [cb], audience="team/1", title="team news")
    # a has read it, b has not: both get the retraction.
    ca[0].send_json({"type": "read", "id": g})
    for c in ca:
        _state_then_count(c, "changed", unread=0)
    assert herald.internal("DELETE", "/v1/notifications/%d" % g).status == 204
    seqs = set()
    for c in ca:
        f = c.expect("removed")
        assert f["id"] == g and f["reason"] == "retracted" and f["seq"] > gseq
        seqs.add(f["seq"])
        c.assert_silent(0.3)  # it was read: a's count does not change
    f = _state_then_count(cb, "removed", unread=0)
    assert f["id"] == g and f["reason"] == "retracted"
    seqs.add(f["seq"])
    assert len(seqs) == 1, "one change, one seq, for every reader"
    co.assert_silent(0.4)


def test_retraction_of_a_read_personal_item_still_reaches_its_owner_only(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    read_one, _ = _note(herald, mine, user_id=uid, title="read")
    unread_one, _ = _note(herald, mine, user_id=uid, title="unread")
    herald.public("POST", "/v1/inbox/%d/read" % read_one, token=herald.token(uid))
    for c in mine:
        _state_then_count(c, "changed", unread=1)
    assert herald.internal("DELETE", "/v1/notifications/%d" % read_one).status == 204
    for c in mine:
        f = c.expect("removed")
        assert f["id"] == read_one and f["reason"] == "retracted"
    assert herald.internal("DELETE", "/v1/notifications/%d" % unread_one).status == 204
    for c in mine:
        f = _state_then_count(c, "removed", unread=0)
        assert f["id"] == unread_one and f["reason"] == "retracted"
    theirs.assert_silent(0.4)


def test_expiry_sends_removed_expired_before_the_count(herald, new_user):
    uid, other, mine, theirs = _tabs_and_bystander(herald, new_user)
    _note(herald, mine, user_id=uid, title="stays")
    short, sseq = _note(herald, mine, user_id=uid, title="brief", ttl_s=2)
    read_short, _ = _note(herald, mine, user_id=uid, title="brief, read", ttl_s=2)
    herald.public("POST", "/v1/inbox/%d/read" % read_short, token=herald.token(uid))
    for c in mine:
        _state_then_count(c, "changed", unread=2)
    posted = time.monotonic()
    for c in mine:
        got = {}
        deadline = posted + 2 + 6
        while len(got) < 2:
            f = c.recv_json(timeout=max(0.2, deadline - time.monotonic()))
            if f["type"] == "count":
                assert short in got, "the count came before the removed frame"
                assert f["unread"] == 1
                continue
            assert f["type"] == "removed" and f["reason"] == "expired", f
            assert f["seq"] > sseq
            got[f["id"]] = f
        assert set(got) == {short, read_short}
    assert time.monotonic() - posted >= 1.5
    theirs.assert_silent(0.3)


def test_an_expired_broadcast_is_removed_on_every_connection(herald, new_user):
    a, b = new_user(), new_user()
    [ca] = _open(herald, a, 1)
    [cb] = _open(herald, b, 1)
    nid, _ = _note(herald, [ca, cb], user_id=-1, title="flash", ttl_s=2)
    seqs = set()
    for c in (ca, cb):
        f = _state_then_count(c, "removed", unread=0, timeout=9)
        assert f["id"] == nid and f["reason"] == "expired"
        seqs.add(f["seq"])
    assert len(seqs) == 1


def test_seqs_increase_with_every_change(herald, new_user):
    uid = new_user()
    [c] = _open(herald, uid, 1)
    seqs = []
    ids = []
    for i in range(4):
        nid, s = _note(herald, [c], user_id=uid, title="n%d" % i)
        ids.append(nid)
        seqs.append(s)
    c.send_json({"type": "read", "id": ids[0]})
    seqs.append(_state_then_count(c, "changed")["seq"])
    c.send_json({"type": "delete", "id": ids[1]})
    seqs.append(_state_then_count(c, "removed")["seq"])
    nid, s = _note(herald, [c], user_id=uid, title="later")
    seqs.append(s)
    herald.internal("DELETE", "/v1/notifications/%d" % ids[2])
    seqs.append(_state_then_count(c, "removed")["seq"])
    c.send_json({"type": "read_all"})
    seqs.append(_state_then_count(c, "read_all")["seq"])
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), seqs


def _connect(d, uid, since, changes_since, groups=None):
    q = "?token=%s&since=%d&changes_since=%d" % (d.token(uid, groups), since, changes_since)
    hs = d.upgrade(q)
    assert hs.status == 101, (hs.status, hs.body)
    c = hs.client
    sync = c.expect("sync")
    count = c.expect("count")
    return c, sync, count


def test_recovery_after_a_disconnect_lists_reads_deletes_and_retractions_in_seq_order(
        herald, new_user):
    uid, other = new_user(), new_user()
    [c] = _open(herald, uid, 1)
    items = [_note(herald, [c], user_id=uid, title="p%d" % i) for i in range(3)]
    b, _ = _note(herald, [c], user_id=-1, title="broadcast")
    gone_before, _ = _note(herald, [c], user_id=uid, title="already gone")
    last_id = b if b > gone_before else gone_before
    c.send_json({"type": "delete", "id": gone_before})
    seen_seq = _state_then_count(c, "removed")["seq"]
    c.close()
    # Meanwhile: another socket reads and deletes, an admin retracts (one read, one unread),
    # and another user acts on their own items.
    other_item = herald.notify_ok(user_id=other, title="theirs")["id"]
    herald.public("POST", "/v1/inbox/%d/read" % other_item, token=herald.token(other))
    [d] = _open(herald, uid, 1)
    d.send_json({"type": "read", "id": items[0][0]})
    _state_then_count(d, "changed")
    d.send_json({"type": "delete", "id": items[1][0]})
    _state_then_count(d, "removed")
    d.send_json({"type": "read", "id": b})
    _state_then_count(d, "changed")
    herald.internal("DELETE", "/v1/notifications/%d" % b)
    herald.internal("DELETE", "/v1/notifications/%d" % items[2][0])
    new_item = herald.notify_ok(user_id=uid, title="arrived while away")["id"]

    c2, sync, count = _connect(herald, uid, last_id, seen_seq)
    assert [n["id"] for n in sync["notifications"]] == [new_item]
    assert sync["notifications"][0]["seq"] == new_item or sync["notifications"][0]["seq"] > 0
    assert sync["more"] is False and "reset" not in sync
    got = [(x["type"], x["id"], x.get("reason")) for x in sync["changes"]]
    assert got == [("changed", items[0][0], None), ("removed", items[1][0], "deleted"),
                   ("changed", b, None), ("removed", b, "retracted"),
                   ("removed", items[2][0], "retracted")], sync["changes"]
    seqs = [x["seq"] for x in sync["changes"]]
    assert seqs == sorted(seqs) and seqs[0] > seen_seq
    assert count["unread"] == 1
    # The same through a client sync frame on an open connection, from the first change on.
    c2.send_json({"type": "sync", "since": last_id, "changes_since": seqs[1]})
    page = c2.expect("sync")
    assert [x["seq"] for x in page["changes"]] == seqs[2:]
    assert [n["id"] for n in page["notifications"]] == [new_item]
    # Without changes_since the sync frame is the v1 one.
    c2.send_json({"type": "sync", "since": last_id})
    assert set(c2.expect("sync")) == {"type", "notifications", "more"}


def test_recovery_lists_shared_changes_only_for_audiences_the_user_is_in(herald, new_user):
    uid = new_user()
    [c] = _open(herald, uid, 1, groups=["org/1"])
    mine, _ = _note(herald, [c], audience="org/1", title="mine")
    not_mine = herald.notify_ok(audience="org/2", title="not mine")["id"]
    c2, sync, _ = _connect(herald, uid, max(mine, not_mine), 0, groups=["org/1"])
    base = [x for x in sync["changes"]]
    herald.internal("DELETE", "/v1/notifications/%d" % not_mine)
    herald.internal("DELETE", "/v1/notifications/%d" % mine)
    c2.expect("removed")
    c2.expect("count")
    c3, sync, _ = _connect(herald, uid, max(mine, not_mine), 0, groups=["org/1"])
    assert [x for x in sync["changes"] if x not in base] == [
        {"type": "removed", "id": mine, "reason": "retracted", "seq": sync["changes"][-1]["seq"]}]


def test_sync_items_carry_the_seq_of_their_last_change(herald, new_user):
    uid = new_user()
    [c] = _open(herald, uid, 1)
    a, sa = _note(herald, [c], user_id=uid, title="a")
    b, sb = _note(herald, [c], user_id=uid, title="b")
    c.send_json({"type": "read", "id": a})
    read_seq = _state_then_count(c, "changed")["seq"]
    c.send_json({"type": "sync", "since": 0})
    items = {n["id"]: n for n in c.expect("sync")["notifications"]}
    assert items[a]["seq"] == read_seq
    assert items[b]["seq"] == sb


def test_changes_are_paged_like_items(herald, new_user):
    uid = new_user()
    r = herald.internal("POST", "/v1/notify/batch",
                        {"notifications": [{"user_id": uid, "title": "n%d" % i}
                                           for i in range(130)]})
    ids = [x["id"] for x in r.json["results"]]
    c, sync, _ = _connect(herald, uid, ids[-1], 0)
    start = max([x["seq"] for x in sync["changes"]] + [0])
    for nid in ids:
        c.send_json({"type": "read", "id": nid})
    c.wait_count(0, timeout=10)
    c2, first, _ = _connect(herald, uid, ids[-1], start)
    assert len(first["changes"]) == 100 and first["more"] is True
    c2.send_json({"type": "sync", "since": ids[-1], "changes_since": first["changes"][-1]["seq"]})
    second = c2.expect("sync")
    assert len(second["changes"]) == 30 and second["more"] is False
    both = first["changes"] + second["changes"]
    # Reads run concurrently: the log is in commit (seq) order, each read once.
    assert sorted(x["id"] for x in both) == ids
    assert [x["seq"] for x in both] == sorted(x["seq"] for x in both)


def test_a_bad_changes_since_is_refused(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    for q in ("&since=0&changes_since=x", "&since=0&changes_since=-1", "&changes_since=3",
              "&since=0&changes_since=9007199254740992"):
        hs = herald.upgrade("?token=" + token + q)
        assert hs.status == 400, q
        assert hs.json["error"]["code"] == "invalid_argument"
        assert hs.json["error"]["field"] == "changes_since"
    c = herald.ws(uid)
    for bad in ("x", -1, 1.5):
        c.send_json({"type": "sync", "since": 0, "changes_since": bad})
        assert c.expect("error")["code"] == "invalid_argument"


def test_a_client_further_behind_than_the_kept_log_gets_reset(launch, new_user):
    d = launch(env={"HERALD_CHANGES_DAYS": "0"})
    uid = new_user()
    [c] = _open(d, uid, 1)
    nid, _ = _note(d, [c], user_id=uid, title="x")
    c.send_json({"type": "read", "id": nid})
    seq = _state_then_count(c, "changed")["seq"]
    # Kept 0 days: the next purge pass (every 10 s) drops it; then changes_since older than
    # that seq is a reset, and a client that saw it is not.
    deadline = time.monotonic() + 25
    while True:
        _, sync, _ = _connect(d, uid, nid, 0)
        if sync.get("reset") is True:
            break
        assert time.monotonic() < deadline, "no reset after the log was purged"
        time.sleep(1)
    assert sync["changes"] == [] and [n["id"] for n in sync["notifications"]] == []
    _, current, _ = _connect(d, uid, nid, seq)
    assert "reset" not in current and current["changes"] == []


def test_a_bad_changes_days_setting_stops_the_start(herald_bin, tmp_path):
    for value in ("abc", "-1", "1.5", "99999"):
        assert_refused_naming(run_refused(herald_bin, tmp_path, env={"HERALD_CHANGES_DAYS": value}),
                              "changes_days")
