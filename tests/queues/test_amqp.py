"""Notify through RabbitMQ (API.md v1.1, "Notify through a message queue"), against a real
rabbitmq-server node and the real daemon."""
import json
import os
import signal
import subprocess
import time
import uuid

import pika
import pytest

import queue_brokers
import queue_checks
from conftest import VOLUME

USERS = 20


def amqp_env(rabbit, queue, **extra):
    env = {"HERALD_AMQP_URL": rabbit.url, "HERALD_AMQP_QUEUE": queue}
    env.update(extra)
    return env


def test_published_messages_are_stored_once_and_pushed_to_online_users(rabbit, daemons, queue_name, new_user):
    users = [new_user() for _ in range(USERS)]
    h = daemons(amqp_env(rabbit, queue_name))
    clients = {u: h.ws(u) for u in users}
    bodies = queue_checks.bodies_for(users, VOLUME, "m" + uuid.uuid4().hex[:6])
    conn = rabbit.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    queue_brokers.publish(ch, queue_name, bodies)
    conn.close()
    queue_checks.expect_pushed_and_stored_once(h, clients, users, bodies, timeout=120 + VOLUME / 50)
    # Acked after the commit: nothing is left on the broker, ready or unacknowledged.
    queue_brokers.wait_until(lambda: rabbit.queue_counts(queue_name) == (0, 0), 10, "an empty queue")
    assert queue_checks.metric(h, "herald_queue_consumed_total", "amqp") >= VOLUME
    assert queue_checks.metric(h, "herald_queue_refused_total", "amqp") == 0


def test_killed_and_restarted_herald_stores_each_message_once(rabbit, daemons, queue_name, new_user):
    users = [new_user() for _ in range(USERS)]
    prefix = "k" + uuid.uuid4().hex[:6]
    # Enough that the kill lands in the middle on a quiet machine too (Herald takes thousands a
    # second): the asserts below check that it did.
    n = max(VOLUME, 20000)
    bodies = queue_checks.bodies_for(users, n, prefix)
    ids = ["%s-msg-%d" % (prefix, i) for i in range(n)]  # keys: the AMQP message_id
    conn = rabbit.connect()
    ch = conn.channel()
    ch.queue_declare(queue_name, durable=True)
    ch.confirm_delivery()
    queue_brokers.publish(ch, queue_name, bodies, message_ids=ids)
    conn.close()
    env = amqp_env(rabbit, queue_name)
    h = daemons(env, name="first")
    # Killed while it works through the queue: some committed and not yet acked.
    queue_brokers.wait_until(lambda: queue_checks.metric(h, "herald_queue_consumed_total", "amqp") >= n // 3,
                             60, "a third consumed")
    h.kill9()
    ready, unacked = rabbit.queue_counts(queue_name)
    assert 0 < ready + unacked < n, (ready, unacked)
    h2 = daemons(env, store=h.store, name="second")
    want = {b["title"] for b in bodies}
    got = queue_checks.wait_stored(h2, users, want, timeout=60 + n / 100)
    twice = [t for t, c in got.items() if c > 1]
    assert not twice, "stored twice after redelivery: %r" % twice[:5]
    assert set(got) == want
    assert queue_checks.metric(h2, "herald_queue_redelivered_total", "amqp") > 0
    queue_brokers.wait_until(lambda: rabbit.queue_counts(queue_name) == (0, 0), 10, "an empty queue")


def test_refused_bodies_are_dead_lettered_and_counted(rabbit, daemons, queue_name, new_user):
    user = new_user()
    dlq = queue_name + ".dead"
    conn = rabbit.connect()
    ch = conn.channel()
    ch.queue_declare(dlq, durable=True)
    # The operator's queue, with a dead-letter exchange: Herald must keep its arguments.
    ch.queue_declare(queue_name, durable=True, arguments={"x-dead-letter-exchange": "",
                                                          "x-dead-letter-routing-key": dlq})
    bad = [b"not json", json.dumps({"user_id": user}), json.dumps({"user_id": user, "title": "x" * 201}),
           json.dumps({"notifications": []}), json.dumps([1, 2])]
    good = {"user_id": user, "title": "good-" + uuid.uuid4().hex[:6]}
    ch.confirm_delivery()
    queue_brokers.publish(ch, queue_name, bad + [json.dumps(good)])
    h = daemons(amqp_env(rabbit, queue_name))
    queue_checks.wait_stored(h, [user], {good["title"]}, timeout=20)
    dead = []
    deadline = time.monotonic() + 20
    while len(dead) < len(bad) and time.monotonic() < deadline:
        method, props, body = ch.basic_get(dlq, auto_ack=True)
        if method is None:
            time.sleep(0.1)
            continue
        dead.append(body)
    conn.close()
    assert sorted(dead) == sorted(b if isinstance(b, bytes) else b.encode() for b in bad)
    assert queue_checks.metric(h, "herald_queue_refused_total", "amqp") == len(bad)
    assert queue_checks.stored(h, [user]) == {good["title"]: 1}  # nothing else stored
    assert rabbit.queue_counts(queue_name) == (0, 0)
    # GET /v1/stats (the admin console's source) carries the same counts.
    queue_brokers.wait_until(lambda: h.stats()["queues"]["amqp"]["in_flight"] == 0, 10, "settled")
    amqp = h.stats()["queues"]["amqp"]
    assert amqp["consumed"] == len(bad) + 1 and amqp["refused"] == len(bad), amqp
    assert amqp["redelivered"] == 0 and amqp["up"] is True, amqp
    assert "stream" not in h.stats()["queues"]


def _rpc(ch, queue, body, correlation_id, message_id=None):
    result = ch.queue_declare("", exclusive=True)
    reply_q = result.method.queue
    props = pika.BasicProperties(delivery_mode=2, reply_to=reply_q, correlation_id=correlation_id,
                                 message_id=message_id)
    ch.basic_publish("", queue, json.dumps(body), properties=props)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        method, p, answer = ch.basic_get(reply_q, auto_ack=True)
        if method is not None:
            return p, json.loads(answer)
        time.sleep(0.05)
    raise AssertionError("no reply to %r" % body)


def test_reply_to_gets_the_http_answer_with_the_correlation_id(rabbit, daemons, queue_name, new_user):
    user = new_user()
    h = daemons(amqp_env(rabbit, queue_name))
    c = h.ws(user)
    conn = rabbit.connect()
    ch = conn.channel()
    p, answer = _rpc(ch, queue_name, {"user_id": user, "title": "rpc-1"}, "corr-1", message_id="rpc-msg-1")
    assert p.correlation_id == "corr-1"
    assert isinstance(answer["id"], int) and answer["online"] == 1, answer
    assert c.expect("notification")["notification"]["id"] == answer["id"]
    # The same message_id again (a redelivery, a retry): the first answer, nothing new stored.
    p2, again = _rpc(ch, queue_name, {"user_id": user, "title": "rpc-1 again"}, "corr-2", message_id="rpc-msg-1")
    assert p2.correlation_id == "corr-2" and again == answer
    # A batch: the HTTP batch answer.
    p3, batch = _rpc(ch, queue_name, {"notifications": [{"user_id": user, "title": "rpc-b1"},
                                                         {"user_id": user}]}, "corr-3")
    assert p3.correlation_id == "corr-3"
    assert isinstance(batch["results"][0]["id"], int)
    assert batch["results"][1]["error"]["code"] == "invalid_argument"
    # A refused body: the error envelope of HTTP's 400.
    p4, refused = _rpc(ch, queue_name, {"user_id": user, "title": ""}, "corr-4")
    assert p4.correlation_id == "corr-4"
    assert refused["error"]["code"] == "invalid_argument" and refused["error"]["field"] == "title"
    conn.close()
    assert queue_checks.stored(h, [user]) == {"rpc-1": 1, "rpc-b1": 1}


def test_broker_restart_reconnects_and_consumes_again(rabbit, daemons, queue_name, new_user):
    user = new_user()
    h = daemons(amqp_env(rabbit, queue_name))
    conn = rabbit.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    queue_brokers.publish(ch, queue_name, [{"user_id": user, "title": "before"}])
    conn.close()
    queue_checks.wait_stored(h, [user], {"before"}, timeout=20)
    rabbit.halt()
    try:
        queue_brokers.wait_until(lambda: queue_checks.readyz(h).status == 503, 20, "/readyz 503")
        r = queue_checks.readyz(h)
        assert r.json["error"]["code"] == "unavailable" and "AMQP" in r.json["error"]["message"]
        assert queue_checks.metric(h, "herald_queue_up", "amqp") == 0
    finally:
        rabbit.resume()
    queue_brokers.wait_until(lambda: queue_checks.readyz(h).status == 200, 30, "/readyz 200 again")
    conn = rabbit.connect()
    ch = conn.channel()
    ch.confirm_delivery()
    queue_brokers.publish(ch, queue_name, [{"user_id": user, "title": "after"}])
    conn.close()
    queue_checks.wait_stored(h, [user], {"before", "after"}, timeout=20)
    assert queue_checks.stored(h, [user]) == {"before": 1, "after": 1}


def test_readyz_is_503_while_the_broker_is_unreachable(daemons, queue_name):
    port = queue_brokers.socket.socket()
    port.bind(("127.0.0.1", 0))
    dead = port.getsockname()[1]
    port.close()
    h = daemons({"HERALD_AMQP_URL": "amqp://guest:guest@127.0.0.1:%d/%%2f" % dead,
                 "HERALD_AMQP_QUEUE": queue_name}, wait=False)
    def alive():
        try:
            return h.internal("GET", "/healthz", key=False).status == 200
        except OSError:
            return False

    queue_brokers.wait_until(alive, 20, "alive")
    # Once the store is ready, the queue is what /readyz names.
    queue_brokers.wait_until(lambda: "AMQP" in queue_checks.readyz(h).body.decode(), 20, "/readyz naming AMQP")
    for _ in range(3):  # and it stays so while it retries
        r = queue_checks.readyz(h)
        assert r.status == 503 and "AMQP" in r.json["error"]["message"], r
        assert queue_checks.metric(h, "herald_queue_up", "amqp") == 0
        time.sleep(0.5)


@pytest.mark.parametrize("key,value", [("HERALD_AMQP_URL", "http://x"), ("HERALD_AMQP_PREFETCH", "0"),
                                       ("HERALD_AMQP_PREFETCH", "abc"), ("HERALD_AMQP_QUEUE", ""),
                                       ("HERALD_STREAM", "redis://127.0.0.1:6379"),
                                       ("HERALD_STREAM_PREFETCH", "70000")])
def test_a_bad_queue_setting_stops_the_start(herald_bin, tmp_path, key, value):
    env = queue_brokers_env(key, value)
    r = subprocess.run([herald_bin], cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert key in r.stderr, r.stderr


def queue_brokers_env(key, value):
    import herald_daemon
    env = herald_daemon.clean_env({"HERALD_JWT_SECRET": herald_daemon.JWT_SECRET,
                                   "HERALD_API_KEY": herald_daemon.API_KEY,
                                   "HERALD_STORE": "sqlite:herald.db",
                                   "HERALD_PUBLIC_ADDR": "127.0.0.1:%d" % herald_daemon.free_port(),
                                   "HERALD_INTERNAL_ADDR": "127.0.0.1:%d" % herald_daemon.free_port()})
    env[key] = value
    return env


def test_nothing_is_acked_while_the_store_is_frozen(rabbit, mariadb, daemons, queue_name, new_user):
    users = [new_user() for _ in range(5)]
    n = 200
    h = daemons(amqp_env(rabbit, queue_name, HERALD_STORE_TIMEOUT_MS="1000"), store=mariadb.url)
    prefix = "f" + uuid.uuid4().hex[:6]
    bodies = queue_checks.bodies_for(users, n, prefix)
    pid = mariadb.pid()
    os.kill(pid, signal.SIGSTOP)
    try:
        conn = rabbit.connect()
        ch = conn.channel()
        ch.confirm_delivery()
        queue_brokers.publish(ch, queue_name, bodies, message_ids=["%s-%d" % (prefix, i) for i in range(n)])
        conn.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            ready, unacked = rabbit.queue_counts(queue_name)
            assert ready + unacked == n, "acked while the store was frozen: %d left" % (ready + unacked)
            time.sleep(1)
        assert unacked == n  # all in flight (prefetch 256), none settled
        assert queue_checks.metric(h, "herald_queue_retries_total", "amqp") > 0
    finally:
        os.kill(pid, signal.SIGCONT)
    want = {b["title"] for b in bodies}
    got = queue_checks.wait_stored(h, users, want, timeout=60)
    assert set(got) == want and max(got.values()) == 1
    queue_brokers.wait_until(lambda: rabbit.queue_counts(queue_name) == (0, 0), 20, "an empty queue")
