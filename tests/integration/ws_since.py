"""What one WebSocket connection opened with `since` receives (its sync pages, asking for the next
one while `more`, then live notification frames) and the rules that delivery keeps: ids in
order, none twice, no live frame of an item a sync page covers, nothing at or before `since`.
Shared by the single-node and the cluster reconnect tests.

A page the client asks for with a `sync` frame lists every visible item after its `since`
(API.md), so it may list items that already came live on this connection: like the browser
client, the reader drops those by id, from those pages only. Live frames are never filtered."""
import time


def read_since(c, first_timeout=3.0, live_window=0.25):
    """What `c` (opened with since, read_initial=False) gets: (synced, live, first), the sync
    ids (the connect page, then the asked-for pages without the ids that came live before
    them), the live ids, and the connect page's ids. Reads until `live_window` seconds have
    passed and no sync page is still due."""
    synced, live = [], []
    sync = c.expect("sync", timeout=first_timeout)
    first = [n["id"] for n in sync["notifications"]]
    synced += first
    pages_pending = sync["more"]
    asked = synced[-1] if pages_pending else None
    if pages_pending:
        c.send_json({"type": "sync", "since": asked})
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
            page = [n["id"] for n in f["notifications"]]
            assert page == sorted(page) and all(i > asked for i in page), (asked, page)
            had = set(synced) | set(live)
            kept = [i for i in page if i not in had]
            # Live frames go out in id order: an item of the page that had not come live yet is
            # newer than every live one, never one between them.
            came = [i for i in page if i in set(live)]
            if came:
                assert all(i < came[0] or i > live[-1] for i in kept), (
                    "a page lists items between live ones that never came live", page, live)
            synced += kept
            pages_pending = f["more"]
            if pages_pending:
                asked = page[-1]
                c.send_json({"type": "sync", "since": asked})
    return synced, live, first


def check_since(synced, live, since, where="one connection", first=None):
    """Asserts the delivery rules for what a connection opened with `since` got; returns the
    `since` of the next connection (the last id seen, or `since` when none came). `first`: the
    connect page's ids (default: all of `synced`)."""
    first = synced if first is None else first
    assert synced == sorted(synced), "sync ids out of order on %s: %r" % (where, synced)
    assert live == sorted(live), "live ids out of order on %s: %r" % (where, live)
    ids = synced + live
    assert len(ids) == len(set(ids)), "an id twice on %s: %r / %r" % (where, synced, live)
    if first and live:
        assert first[-1] < live[0], "a live frame of an item the sync covers (%s)" % where
    if not ids:
        return since
    assert min(ids) > since, "an id at or before since=%d on %s: %r" % (since, where, ids)
    return max(ids)
