"""An unreachable store or bus at start is not a refusal: Herald waits, answering 503 (issue 2)."""
import http.client
import subprocess
import threading
import time

import pytest

from herald_daemon import HOST, free_port
from herald_http import assert_error


def test_an_unreachable_store_gives_503_and_the_daemon_keeps_running(launch, new_user):
    dead = free_port()
    d = launch(store="mysql://herald:pw@127.0.0.1:%d/herald" % dead, wait=False)
    d.wait_status("/healthz", 200)
    assert_error(d.internal("GET", "/readyz", key=False), 503, "unavailable")
    uid = new_user()
    assert_error(d.notify(user_id=uid, title="t", idempotency_key="outage-1"), 503, "unavailable")
    assert_error(d.public("GET", "/v1/inbox", token=d.token(uid)), 503, "unavailable")
    time.sleep(1)
    assert d.running()
    assert_error(d.internal("GET", "/readyz", key=False), 503, "unavailable")


def test_an_unreachable_bus_delays_readiness_until_it_answers(launch, tmp_path):
    port = free_port()
    d = launch(env={"HERALD_BUS": "redis://127.0.0.1:%d" % port}, wait=False)
    d.wait_status("/healthz", 200)
    # Not ready at any point while nothing listens on the bus address (the store is up).
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        assert_error(d.internal("GET", "/readyz", key=False), 503, "unavailable")
        time.sleep(0.1)
    assert d.running()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        d.wait_ready(20)
        uid = 4242
        c = d.ws(uid)
        d.wait_presence(uid, 1)
        assert d.notify_ok(user_id=uid, title="via redis", persist=False)["online"] == 1
        assert c.expect("desktop")["title"] == "via redis"
    finally:
        redis.terminate()
        redis.wait(10)


def test_keep_alive_connections_serve_several_requests(shared_herald, new_user):
    conn = http.client.HTTPConnection(HOST, shared_herald.internal_port, timeout=5)
    auth = {"Authorization": "Bearer " + shared_herald.api_key, "Content-Type": "application/json"}
    try:
        for i in range(3):
            conn.request("POST", "/v1/notify", body='{"user_id": %d, "title": "k%d"}'
                         % (new_user(), i), headers=auth)
            r = conn.getresponse()
            assert r.status == 200, r.read()
            r.read()
            conn.request("GET", "/v1/stats", headers=auth)
            r = conn.getresponse()
            assert r.status == 200
            r.read()
    finally:
        conn.close()


def test_concurrent_reads_of_one_item_decrement_once(herald, new_user):
    uid = new_user()
    token = herald.token(uid)
    personal = herald.notify_ok(user_id=uid, title="p")["id"]
    shared = herald.notify_ok(user_id=-1, title="b")["id"]
    herald.notify_ok(user_id=uid, title="stays unread")
    c = herald.ws(uid)
    assert c.initial_count == 3
    answers, errors = [], []

    def read(nid):
        try:
            r = herald.public("POST", "/v1/inbox/%d/read" % nid, token=token)
            answers.append((r.status, r.json))
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=read, args=(nid,)) for nid in [personal, shared] * 8]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    assert not errors, errors
    assert all(status == 200 for status, _ in answers), answers
    assert herald.unread(token) == 1
    c.wait_count(1)
    assert herald.unread(herald.token(new_user())) == 1  # the broadcast, unread for others


@pytest.mark.parametrize("extra", [[]])
def test_migrate_creates_the_schema_and_exits_0(launch, herald_bin, tmp_path, new_store, extra):
    import herald_daemon
    store = new_store(tmp_path)
    env = herald_daemon.clean_env({"HERALD_STORE": store, "HERALD_JWT_SECRET": herald_daemon.JWT_SECRET,
                                   "HERALD_API_KEY": herald_daemon.API_KEY})
    r = subprocess.run([herald_bin, "migrate"] + extra, cwd=str(tmp_path), env=env,
                       capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([herald_bin, "migrate"], cwd=str(tmp_path), env=env, capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr  # running it again is harmless
    d = launch(store=store)
    assert d.notify_ok(user_id=1, title="after migrate")["id"] > 0
