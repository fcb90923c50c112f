"""Internal and public routes besides notify: errors, health, stats, presence, batch, static
files, dev mode (issue 2)."""
import json
import re

import pytest

from herald_http import assert_error


@pytest.mark.parametrize("method,path", [("GET", "/v1/nothing"), ("GET", "/nothing"),
                                         ("POST", "/v1/notify/nothing"), ("GET", "/v1/users/5")])
def test_an_unknown_internal_route_is_404_json(shared_herald, method, path):
    assert_error(shared_herald.internal(method, path), 404, "not_found")


@pytest.mark.parametrize("method,path", [("GET", "/v1/notify"), ("PUT", "/v1/notify"),
                                         ("POST", "/v1/stats"), ("GET", "/v1/notify/batch"),
                                         ("POST", "/v1/users/5/presence"),
                                         ("PUT", "/v1/notifications/5")])
def test_a_wrong_method_on_an_internal_route_is_405_json(shared_herald, method, path):
    assert_error(shared_herald.internal(method, path, body={} if method != "GET" else None),
                 405, "method_not_allowed")


def test_an_unknown_public_route_is_404_json(shared_herald):
    token = shared_herald.token(5)
    assert_error(shared_herald.public("GET", "/v1/nothing", token=token), 404, "not_found")
    assert_error(shared_herald.public("GET", "/v1/inbox/1/2/3", token=token), 404, "not_found")


@pytest.mark.parametrize("method,path", [("DELETE", "/v1/inbox"), ("POST", "/v1/inbox/unread_count"),
                                         ("PUT", "/v1/inbox/5"), ("GET", "/v1/inbox/5/read")])
def test_a_wrong_method_on_a_public_route_is_405_json(shared_herald, method, path):
    token = shared_herald.token(5)
    assert_error(shared_herald.public(method, path, token=token), 405, "method_not_allowed")


def test_the_internal_api_is_not_served_on_the_public_listener(shared_herald):
    r = shared_herald.public("POST", "/v1/notify", {"user_id": 1, "title": "x"},
                             headers={"Authorization": "Bearer " + shared_herald.api_key})
    assert r.status in (404, 405), r
    assert r.json["error"]["code"] in ("not_found", "method_not_allowed")


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_health_ready_and_metrics_need_no_key(shared_herald, path):
    r = shared_herald.internal("GET", path, key=False)
    assert r.status == 200, r


def test_metrics_are_prometheus_text(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    r = shared_herald.internal("GET", "/metrics", key=False)
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    samples = 0
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? (-?[0-9.eE+\-]+|NaN|[+-]Inf)( -?[0-9]+)?$')
    for line in r.body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        assert sample.match(line), "not a Prometheus sample line: %r" % line
        samples += 1
    assert samples > 0
    assert "# TYPE" in r.body.decode()
    c.close()


@pytest.mark.parametrize("path", ["/v1/stats", "/v1/users/5/presence"])
def test_stats_and_presence_need_the_key(shared_herald, path):
    assert_error(shared_herald.internal("GET", path, key=False), 401, "unauthenticated")
    assert_error(shared_herald.internal("GET", path, key="Bearer bad"), 401, "unauthenticated")


@pytest.mark.parametrize("method,path", [("POST", "/v1/notify/batch"),
                                         ("DELETE", "/v1/notifications/1")])
def test_other_internal_routes_need_the_key(shared_herald, method, path):
    assert_error(shared_herald.internal(method, path, body={"notifications": []}, key=False),
                 401, "unauthenticated")


def test_presence_and_stats_follow_connections(herald, new_user):
    a, b = new_user(), new_user()
    assert herald.presence(a) == {"online": False, "connections": 0}
    s = herald.stats()
    for k in ("connections", "users_online", "nodes", "notifications_stored"):
        assert isinstance(s[k], int), s
    assert (s["connections"], s["users_online"], s["nodes"]) == (0, 0, 1)
    ca1, ca2, cb = herald.ws(a), herald.ws(a), herald.ws(b)
    assert herald.wait_presence(a, 2) == {"online": True, "connections": 2}
    herald.wait_presence(b, 1)
    s = herald.stats()
    assert (s["connections"], s["users_online"], s["nodes"]) == (3, 2, 1)
    ca1.close()
    cb.close()
    herald.wait_presence(a, 1)
    herald.wait_presence(b, 0)
    assert herald.presence(b)["online"] is False
    s = herald.stats()
    assert (s["connections"], s["users_online"]) == (1, 1)
    ca2.close()


def test_stats_count_visible_stored_notifications(herald, new_user):
    uid = new_user()
    assert herald.stats()["notifications_stored"] == 0
    ids = [herald.notify_ok(user_id=uid, title="p%d" % i)["id"] for i in range(3)]
    herald.notify_ok(user_id=-1, title="b")
    herald.notify_ok(audience="org/1", title="g")
    herald.notify_ok(user_id=uid, title="transient", persist=False)
    assert herald.stats()["notifications_stored"] == 5
    assert herald.internal("DELETE", "/v1/notifications/%d" % ids[0]).status == 204
    assert herald.stats()["notifications_stored"] == 4


def test_batch_answers_each_entry_in_order(herald, new_user):
    a, b = new_user(), new_user()
    ca = herald.ws(a)
    herald.wait_presence(a, 1)
    r = herald.internal("POST", "/v1/notify/batch", {"notifications": [
        {"user_id": a, "title": "first"},
        {"user_id": a},
        {"user_ids": [a, b], "title": "both"},
        {"user_id": b, "title": "transient", "persist": False},
        {"user_id": a, "title": "x", "ttl_s": 0},
    ]})
    assert r.status == 200, r
    results = r.json["results"]
    assert len(results) == 5
    assert isinstance(results[0]["id"], int) and results[0]["online"] == 1
    assert results[1]["error"]["code"] == "invalid_argument"
    assert results[1]["error"]["field"] == "title"
    assert len(results[2]["ids"]) == 2 and results[2]["online"] == 1
    assert results[3] == {"id": None, "online": 0}
    assert results[4]["error"]["field"] == "ttl_s"
    ids_a = {n["id"] for n in herald.inbox(herald.token(a))["notifications"]}
    assert ids_a == {results[0]["id"], results[2]["ids"][0]}
    ids_b = {n["id"] for n in herald.inbox(herald.token(b))["notifications"]}
    assert ids_b == {results[2]["ids"][1]}
    got = {ca.expect("notification")["notification"]["id"] for _ in range(2)}
    assert got == ids_a


def test_batch_bodies_may_exceed_the_single_body_limit(herald, new_user):
    uid = new_user()
    entries = [{"user_id": uid, "title": "big %d" % i, "content": "c" * 15000} for i in range(10)]
    raw = json.dumps({"notifications": entries})
    assert len(raw) > 65536
    r = herald.internal("POST", "/v1/notify/batch", raw, headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    assert all(isinstance(x["id"], int) for x in r.json["results"])
    assert herald.unread(herald.token(uid)) == 10


def test_a_batch_over_the_default_8_mib_limit_is_413(shared_herald):
    entries = [{"user_id": 5, "title": "t", "content": "c" * 15000} for _ in range(600)]
    assert_error(shared_herald.internal("POST", "/v1/notify/batch", {"notifications": entries}),
                 413, "too_large")


def test_a_batch_over_its_limit_is_413(launch, new_user):
    d = launch(env={"HERALD_MAX_BATCH_BYTES": "100000"})
    entries = [{"user_id": new_user(), "title": "t", "content": "c" * 15000} for _ in range(8)]
    assert_error(d.internal("POST", "/v1/notify/batch", {"notifications": entries}), 413, "too_large")


@pytest.mark.parametrize("payload,field", [
    ("not json", "body"), ([], "body"), ({}, "notifications"),
    ({"notifications": {}}, "notifications"),
    ({"notifications": [{"user_id": 1, "title": "t"}] * 1001}, "notifications"),
])
def test_a_malformed_batch_is_400(shared_herald, payload, field):
    r = shared_herald.internal("POST", "/v1/notify/batch", payload,
                               headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_argument", field)


def test_a_batch_entry_that_is_not_an_object_gets_a_per_entry_error(shared_herald, new_user):
    r = shared_herald.internal("POST", "/v1/notify/batch",
                               {"notifications": [5, {"user_id": new_user(), "title": "ok"}]})
    assert r.status == 200, r
    results = r.json["results"]
    assert results[0]["error"]["code"] == "invalid_argument"
    assert isinstance(results[1]["id"], int)


def test_the_public_listener_serves_the_demo_page(shared_herald):
    r = shared_herald.public("GET", "/")
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/html")
    assert shared_herald.public("GET", "/admin/index.html").status == 404


def test_the_internal_listener_serves_the_admin_console(shared_herald):
    for path in ("/admin", "/admin/"):
        r = shared_herald.internal("GET", path, key=False)
        assert r.status == 200, (path, r)
        assert r.headers.get("content-type", "").startswith("text/html")


def test_dev_routes_are_404_without_dev_mode(shared_herald):
    r = shared_herald.public("POST", "/v1/dev/token", {"user_id": 42})
    assert_error(r, 404, "not_found")


def test_dev_mode_mints_tokens_and_reveals_the_key_internally(launch, new_user):
    d = launch(args=["--dev"])
    uid = new_user()
    r = d.public("POST", "/v1/dev/token", {"user_id": uid, "groups": ["org/1"], "ttl_s": 600})
    assert r.status == 200, r
    assert r.json["user_id"] == uid
    token = r.json["token"]
    key = d.internal("GET", "/v1/dev/config", key=False)
    assert key.status == 200, key
    assert key.json["api_key"] == d.api_key
    assert d.public("GET", "/v1/dev/config").status == 404
    d.notify_ok(audience="org/1", title="dev group")
    box = d.inbox(token)
    assert [n["title"] for n in box["notifications"]] == ["dev group"]


def test_the_body_limit_applies_on_the_public_listener_too(shared_herald, new_user):
    r = shared_herald.public("POST", "/v1/inbox/read_all", "{" + " " * 100000 + "}",
                             token=shared_herald.token(new_user()),
                             headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large")


def test_metrics_count_the_writers_and_readers_work(herald, new_user):
    from test_hostile import metric
    names = ("herald_writer_batches_total", "herald_writer_rows_total",
             "herald_reader_batches_total", "herald_reader_reads_total")
    before = {n: metric(herald, n) for n in names}
    uid = new_user()
    herald.notify_ok(user_ids=[uid, new_user(), new_user()], title="three rows")
    assert herald.unread(herald.token(uid)) == 1
    after = {n: metric(herald, n) for n in names}
    assert after["herald_writer_batches_total"] == before["herald_writer_batches_total"] + 1
    assert after["herald_writer_rows_total"] == before["herald_writer_rows_total"] + 3
    assert after["herald_reader_batches_total"] >= before["herald_reader_batches_total"] + 1
    assert after["herald_reader_reads_total"] == before["herald_reader_reads_total"] + 1
