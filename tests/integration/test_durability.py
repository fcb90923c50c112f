"""Every notification answered 200 survives kill -9 (issue 3)."""
import http.client
import threading
import time



def test_acknowledged_notifications_survive_kill_9(launch, new_user):
    d = launch()
    users = [new_user() for _ in range(4)]
    acked = {u: [] for u in users}
    stop = threading.Event()

    def post(uid):
        n = 0
        while not stop.is_set():
            title = "u%d-%d" % (uid, n)
            n += 1
            try:
                r = d.notify(user_id=uid, title=title)
            except (OSError, http.client.HTTPException):
                return
            if r.status == 200:
                acked[uid].append((r.json["id"], title))

    threads = [threading.Thread(target=post, args=(u,), daemon=True) for u in users]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while sum(len(v) for v in acked.values()) < 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    d.kill9()
    stop.set()
    for t in threads:
        t.join(15)
    total = sum(len(v) for v in acked.values())
    assert total > 0, "no notify was acknowledged before the kill"

    again = launch(store=d.store)
    for uid in users:
        token = again.token(uid)
        items, before = [], None
        for _ in range(1000):
            page = again.inbox(token, "?limit=100" + ("&before=%d" % before if before else ""))
            items += page["notifications"]
            before = page["next_before"]
            if before is None:
                break
        by_id = {}
        for n in items:
            by_id.setdefault(n["id"], []).append(n["title"])
        for nid, title in acked[uid]:
            assert by_id.get(nid) == [title], \
                "acknowledged id %d (%s) is %r after the restart" % (nid, title, by_id.get(nid))
        titles = [n["title"] for n in items]
        assert len(titles) == len(set(titles)), "a notification is stored twice"


def test_idempotency_keys_survive_a_restart(launch, new_user):
    d = launch()
    uid = new_user()
    first = d.notify_ok(user_id=uid, title="once", idempotency_key="restart-k")
    d.stop()
    again = launch(store=d.store)
    assert again.notify_ok(user_id=uid, title="once", idempotency_key="restart-k") == first
    assert again.unread(again.token(uid)) == 1


def test_read_state_survives_a_restart(launch, new_user):
    d = launch()
    uid = new_user()
    token = d.token(uid)
    bid = d.notify_ok(user_id=-1, title="b")["id"]
    pid = d.notify_ok(user_id=uid, title="p")["id"]
    d.notify_ok(user_id=uid, title="p2")
    assert d.public("POST", "/v1/inbox/%d/read" % bid, token=token).status == 200
    assert d.public("DELETE", "/v1/inbox/%d" % pid, token=token).status == 204
    d.kill9()
    again = launch(store=d.store)
    box = again.inbox(again.token(uid))
    assert [n["title"] for n in box["notifications"]] == ["p2", "b"]
    assert box["unread"] == 1
