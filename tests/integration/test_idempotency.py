"""Idempotency keys: a repeat answers the first answer and does nothing (issue 3)."""
from herald_http import assert_error


def test_a_repeated_key_returns_the_first_answer_and_stores_and_pushes_nothing(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    first = herald.notify(user_id=uid, title="once", idempotency_key="order-7-shipped")
    assert first.status == 200
    assert first.json["online"] == 0
    c = herald.ws(uid)
    herald.wait_presence(uid, 1)
    again = herald.notify(user_id=uid, title="once", idempotency_key="order-7-shipped")
    assert again.status == 200 and again.json == first.json
    other_body = herald.notify(user_id=uid + 1, title="different", persist=False,
                               idempotency_key="order-7-shipped")
    assert other_body.status == 200 and other_body.json == first.json
    c.assert_silent(0.7)
    box = herald.inbox(token)
    assert [n["id"] for n in box["notifications"]] == [first.json["id"]]
    assert box["unread"] == 1
    assert herald.inbox(herald.token(uid + 1))["notifications"] == []
    assert herald.stats()["notifications_stored"] == 1


def test_keys_are_global_across_targets(herald, new_user):
    a, b = new_user(), new_user()
    r1 = herald.notify_ok(user_ids=[a, b], title="pair", idempotency_key="k-global")
    r2 = herald.notify_ok(user_id=-1, title="all", idempotency_key="k-global")
    assert r2 == r1
    assert herald.stats()["notifications_stored"] == 2


def test_a_transient_push_with_a_repeated_key_is_not_pushed_again(herald, new_user):
    uid = new_user()
    c = herald.ws(uid)
    herald.wait_presence(uid, 1)
    r1 = herald.notify_ok(user_id=uid, title="pop", persist=False, idempotency_key="pop-1")
    assert r1 == {"id": None, "online": 1}
    c.expect("desktop")
    r2 = herald.notify_ok(user_id=uid, title="pop", persist=False, idempotency_key="pop-1")
    assert r2 == r1
    c.assert_silent(0.7)


def test_a_refused_request_does_not_use_its_key(herald, new_user):
    uid = new_user()
    bad = herald.notify(user_id=uid, title="", idempotency_key="retry-me")
    assert_error(bad, 400, "invalid_argument", "title")
    good = herald.notify(user_id=uid, title="fixed", idempotency_key="retry-me")
    assert good.status == 200 and isinstance(good.json["id"], int)
    assert [n["title"] for n in herald.inbox(herald.token(uid))["notifications"]] == ["fixed"]


def test_keys_work_inside_a_batch(herald, new_user):
    uid = new_user()
    first = herald.notify_ok(user_id=uid, title="single", idempotency_key="batch-k")
    r = herald.internal("POST", "/v1/notify/batch", {"notifications": [
        {"user_id": uid, "title": "dup", "idempotency_key": "batch-k"},
        {"user_id": uid, "title": "new", "idempotency_key": "batch-k2"},
    ]})
    assert r.status == 200, r
    results = r.json["results"]
    assert results[0] == first
    assert isinstance(results[1]["id"], int) and results[1]["id"] != first["id"]
    assert herald.unread(herald.token(uid)) == 2
