"""State frames and counts under rapid concurrent changes (API.md v1.1 "State events"): on every
socket a `count` frame never reflects a change whose state frame that socket has not got yet,
and the last count is the true one; a socket whose token lacks an item's group gets no state
frame about that item (live or in recovery) while its count stays right. Several seeded runs
(HERALD_TEST_ORDER_RUNS, default 3; HERALD_TEST_ORDER_SEED, default 1)."""
import os

import pytest

import state_order

RUNS = int(os.environ.get("HERALD_TEST_ORDER_RUNS", "3"))
SEED = int(os.environ.get("HERALD_TEST_ORDER_SEED", "1"))
SEEDS = [SEED + k for k in range(RUNS)]


def _sockets(d, uid, with_group, without_group):
    socks = [(d.ws(uid, groups=[state_order.GROUP]), True) for _ in range(with_group)]
    socks += [(d.ws(uid), False) for _ in range(without_group)]
    d.wait_presence(uid, with_group + without_group)
    return socks


def _token_for(d, uid):
    return lambda node, with_group: d.token(uid, [state_order.GROUP] if with_group else None)


@pytest.mark.parametrize("seed", SEEDS)
def test_rapid_changes_never_send_a_count_ahead_of_its_state_frames(herald, new_user, seed):
    uid = new_user()
    socks = _sockets(herald, uid, 3, 1)
    state_order.run(seed, socks, [herald], herald, _token_for(herald, uid), uid,
                    herald.notify_ok, leak_check=False)


@pytest.mark.parametrize("seed", SEEDS)
def test_rapid_changes_to_group_items_never_reach_a_socket_without_the_group(
        herald, new_user, seed):
    uid = new_user()
    socks = _sockets(herald, uid, 2, 2)
    state_order.run(seed, socks, [herald], herald, _token_for(herald, uid), uid,
                    herald.notify_ok, leak_check=True)


def test_a_socket_without_the_group_gets_no_frame_for_its_items_but_a_true_count(
        herald, new_user):
    uid = new_user()
    grouped_tok = herald.token(uid, [state_order.GROUP])
    plain_tok = herald.token(uid)
    a = herald.ws(token=grouped_tok)
    b = herald.ws(token=plain_tok)
    herald.wait_presence(uid, 2)
    p = herald.notify_ok(user_id=uid, title="personal")["id"]
    g = herald.notify_ok(audience=state_order.GROUP, title="group")["id"]
    g2 = herald.notify_ok(audience=state_order.GROUP, title="group 2")["id"]
    assert a.expect("notification")["notification"]["id"] == p
    assert a.expect("notification")["notification"]["id"] == g
    assert a.expect("notification")["notification"]["id"] == g2
    assert b.expect("notification")["notification"]["id"] == p
    b.assert_silent(0.3)

    # A read (HTTP), a GET that marks read, and a delete of group items through the grouped
    # token: the grouped socket gets each state frame and its count; the other socket nothing.
    assert herald.public("POST", "/v1/inbox/%d/read" % g, token=grouped_tok).status == 200
    f = a.expect("changed")
    assert f["id"] == g
    assert a.expect("count")["unread"] == 2
    assert herald.public("DELETE", "/v1/inbox/%d" % g2, token=grouped_tok).status == 204
    assert a.expect("removed")["id"] == g2
    assert a.expect("count")["unread"] == 1
    a.send_json({"type": "read", "id": g})  # already read: nothing anywhere
    b.assert_silent(0.5)
    assert herald.unread(plain_tok) == 1
    assert herald.public("GET", "/v1/inbox/%d" % g, token=plain_tok).status == 404

    # A change to an item both can see reaches both, before their counts.
    b.send_json({"type": "read", "id": p})
    for s in (a, b):
        assert s.expect("changed")["id"] == p
        assert s.expect("count")["unread"] == 0
    assert herald.unread(plain_tok) == 0 and herald.unread(grouped_tok) == 0

    # Recovery lists the same: the plain token's changes leave the group items out.
    last = max(p, g, g2)
    c = herald.ws(token=plain_tok, since=last, read_initial=False)
    sync = c.expect("sync")
    listed = {(x["type"], x.get("id")) for x in sync["changes"]} if "changes" in sync else None
    assert listed is None  # without changes_since: the v1 frame
    c.close()
    hs = herald.upgrade("?token=%s&since=%d&changes_since=0" % (plain_tok, last))
    assert hs.status == 101
    sync = hs.client.expect("sync")
    ids = [x.get("id") for x in sync["changes"]]
    assert p in ids
    assert g not in ids and g2 not in ids, sync["changes"]
    hs = herald.upgrade("?token=%s&since=%d&changes_since=0" % (grouped_tok, last))
    sync = hs.client.expect("sync")
    ids = [x.get("id") for x in sync["changes"]]
    assert p in ids and g in ids and g2 in ids, sync["changes"]
