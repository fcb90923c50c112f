"""What one WebSocket connection opened with `since` receives (its sync pages, asking for the next
one while `more`, then live notification frames) and the rules that delivery keeps: ids in
order, none twice, no live frame of an item a sync page covers, nothing at or before `since`.
Shared by the single-node and the cluster reconnect tests."""
import time


def read_since(c, first_timeout=3.0, live_window=0.25):
    """The ids `c` (opened with since, read_initial=False) gets: (synced, live). Reads until
    `live_window` seconds have passed and no sync page is still due."""
    synced, live = [], []
    sync = c.expect("sync", timeout=first_timeout)
    synced += [n["id"] for n in sync["notifications"]]
    pages_pending = sync["more"]
    if pages_pending:
        c.send_json({"type": "sync", "since": synced[-1]})
    end = time.monotonic() + live_window
    while time.monotonic() < end or pages_pending:
        try:
            f = c.recv_json(0.5)
        except AssertionError:
            assert not pages_pending, "a sync page did not come"
            break
        if f["type"] == "notification":
            live.append(f["notification"]["id"])
        elif f["type"] == "sync":
            synced += [n["id"] for n in f["notifications"]]
            pages_pending = f["more"]
            if pages_pending:
                c.send_json({"type": "sync", "since": synced[-1]})
    return synced, live


def check_since(synced, live, since, where="one connection"):
    """Asserts the delivery rules for what a connection opened with `since` got; returns the
    `since` of the next connection (the last id seen, or `since` when none came)."""
    assert synced == sorted(synced), "sync ids out of order on %s: %r" % (where, synced)
    assert live == sorted(live), "live ids out of order on %s: %r" % (where, live)
    ids = synced + live
    assert len(ids) == len(set(ids)), "an id twice on %s: %r / %r" % (where, synced, live)
    if synced and live:
        assert synced[-1] < live[0], "a live frame of an item the sync covers (%s)" % where
    if not ids:
        return since
    assert min(ids) > since, "an id at or before since=%d on %s: %r" % (since, where, ids)
    return max(ids)
