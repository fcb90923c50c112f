"""Webhooks (API.md v1.1): signed batches of events from the store's outbox, retried with the
same ids, surviving kill -9; user.online / user.offline with the unread count."""
import hashlib
import hmac
import http.server
import json
import re
import socket
import threading
import time

import pytest

from herald_daemon import free_port
from test_config import assert_refused_naming, run_refused

SECRET = "webhook-test-secret-0123456789"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Receiver:
    """A local HTTP receiver that checks every POST's Herald-Signature and records the batches.
    `fail_next` answers that many POSTs with 500 first."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.batches = []       # (arrival time, [events])
        self.bad = []           # signature or body problems
        self.fail_next = 0
        self.lock = threading.Lock()
        self.server = None

    def start(self):
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                sig = self.headers.get("Herald-Signature", "")
                m = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", sig)
                ok = False
                if m:
                    want = hmac.new(SECRET.encode(), m.group(1).encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
                    ok = hmac.compare_digest(want, m.group(2)) and abs(int(m.group(1)) - time.time()) < 60
                with rec.lock:
                    if not ok:
                        rec.bad.append(("signature", sig))
                    try:
                        events = json.loads(body)["events"]
                    except (ValueError, KeyError, TypeError):
                        rec.bad.append(("body", body[:200]))
                        events = []
                    rec.batches.append((time.monotonic(), events))
                    status = 500 if rec.fail_next > 0 else 200
                    if rec.fail_next > 0:
                        rec.fail_next -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.allow_reuse_address = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def events(self, type_=None):
        with self.lock:
            out = [e for _, b in self.batches for e in b]
        return [e for e in out if type_ is None or e.get("type") == type_]

    def wait(self, pred, timeout=8.0, what="event"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = [e for e in self.events() if pred(e)]
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError("no %s within %.0fs; got %r" % (what, timeout, self.events()))


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()
    assert not r.bad, r.bad


def hook_env(receiver, **more):
    env = {"HERALD_WEBHOOK_URL": receiver.url, "HERALD_WEBHOOK_SECRET": SECRET}
    env.update({"HERALD_" + k.upper(): str(v) for k, v in more.items()})
    return env


def test_read_and_delivered_events_are_signed_and_well_formed(launch, receiver, new_user):
    d = launch(env=hook_env(receiver))
    u = new_user()
    nid = d.notify_ok(user_id=u, title="hello")["id"]
    c = d.ws(u)
    c.send_json({"type": "ack", "ids": [nid]})
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=d.token(u)).status == 200
    for kind in ("notification.delivered", "notification.read"):
        ev = receiver.wait(lambda e: e.get("type") == kind and e.get("notification_id") == nid,
                           what=kind)
        assert len(ev) == 1, ev
        e = ev[0]
        assert type(e["user_id"]) is int and e["user_id"] == u
        assert isinstance(e["id"], str) and e["id"] and RFC3339.match(e["at"]), e
    # A second read or ack raises nothing more.
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=d.token(u)).status == 200
    c.send_json({"type": "ack", "ids": [nid]})
    time.sleep(2.5)
    assert len(receiver.events("notification.read")) == 1
    assert len(receiver.events("notification.delivered")) == 1
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == len(set(ids))
    c.close()
    metrics = d.internal("GET", "/metrics").body.decode()
    assert re.search(r"^herald_webhook_events_sent_total [1-9]", metrics, re.M), metrics


def test_events_come_in_batches_of_at_most_100(launch, receiver, new_user):
    d = launch(env=hook_env(receiver, webhook_events="notification.read"))
    u = new_user()
    r = d.internal("POST", "/v1/notify/batch",
                   {"notifications": [{"user_id": u, "title": "n%d" % i} for i in range(250)]})
    assert r.status == 200, r
    assert d.public("POST", "/v1/inbox/read_all", token=d.token(u)).status == 200
    deadline = time.monotonic() + 10
    while len(receiver.events()) < 250 and time.monotonic() < deadline:
        time.sleep(0.1)
    events = receiver.events()
    assert len(events) == 250, len(events)
    sizes = [len(b) for _, b in receiver.batches]
    assert max(sizes) == 100 and len(sizes) <= 4, sizes  # batched, never over 100
    assert {e["type"] for e in events} == {"notification.read"}  # the filter holds


def test_a_refused_batch_is_retried_with_the_same_ids_and_backoff(launch, receiver, new_user):
    receiver.fail_next = 3
    d = launch(env=hook_env(receiver, webhook_events="notification.read"))
    u = new_user()
    nid = d.notify_ok(user_id=u, title="retry me")["id"]
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=d.token(u)).status == 200
    deadline = time.monotonic() + 15
    while len(receiver.batches) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    batches = list(receiver.batches)
    assert len(batches) == 4, batches
    ids = [[e["id"] for e in b] for _, b in batches]
    assert ids[0] and all(i == ids[0] for i in ids), ids
    gaps = [batches[i + 1][0] - batches[i][0] for i in range(3)]
    # 1 s, 2 s, 4 s (give or take the sender's 250 ms poll).
    assert 0.7 <= gaps[0] <= 1.8 and 1.7 <= gaps[1] <= 2.8 and 3.7 <= gaps[2] <= 4.8, gaps
    time.sleep(1.5)
    assert len(receiver.batches) == 4  # accepted: not sent again


def test_events_survive_kill_9_and_are_sent_after_the_restart(launch, new_user):
    port = free_port()
    down = Receiver(port)  # not started: the receiver is down
    d = launch(env=hook_env(down, webhook_events="notification.read"))
    u = new_user()
    nid = d.notify_ok(user_id=u, title="durable event")["id"]
    assert d.public("POST", "/v1/inbox/%d/read" % nid, token=d.token(u)).status == 200
    time.sleep(0.5)
    d.kill9()
    up = Receiver(port).start()
    try:
        again = launch(env=hook_env(up, webhook_events="notification.read"), store=d.store)
        ev = up.wait(lambda e: e.get("notification_id") == nid, timeout=15, what="the event")
        assert ev[0]["user_id"] == u and ev[0]["type"] == "notification.read"
        assert again.running()
    finally:
        up.stop()
    assert not up.bad, up.bad


def test_user_offline_after_the_window_with_the_unread_count(launch, receiver, new_user):
    d = launch(env=hook_env(receiver, offline_after_s=2))
    u = new_user()
    c = d.ws(u)
    receiver.wait(lambda e: e.get("type") == "user.online" and e.get("user_id") == u, what="online")
    d.notify_ok(user_id=u, title="one")
    d.notify_ok(user_id=u, title="two")
    c.close()
    closed = time.monotonic()
    ev = receiver.wait(lambda e: e.get("type") == "user.offline" and e.get("user_id") == u,
                       timeout=8, what="offline")
    waited = time.monotonic() - closed
    assert 1.8 <= waited <= 5.0, waited
    assert ev[0]["unread"] == 2 and type(ev[0]["user_id"]) is int
    assert len(receiver.events("user.online")) == 1


def test_no_offline_when_the_user_comes_back_within_the_window(launch, receiver, new_user):
    d = launch(env=hook_env(receiver, offline_after_s=2))
    u = new_user()
    c = d.ws(u)
    receiver.wait(lambda e: e.get("type") == "user.online", what="online")
    c.close()
    time.sleep(1.0)
    c = d.ws(u)
    time.sleep(3.5)
    assert not receiver.events("user.offline"), receiver.events()
    assert len(receiver.events("user.online")) == 1  # still online: no second user.online
    # Two tabs: closing one is not going offline.
    c2 = d.ws(u)
    c.close()
    time.sleep(3.0)
    assert not receiver.events("user.offline")
    c2.close()
    receiver.wait(lambda e: e.get("type") == "user.offline", timeout=6, what="offline")


@pytest.mark.parametrize("env,key", [
    ({"HERALD_WEBHOOK_URL": "http://127.0.0.1:9/hook"}, "webhook_secret"),
    ({"HERALD_WEBHOOK_URL": "ftp://127.0.0.1/hook", "HERALD_WEBHOOK_SECRET": SECRET}, "webhook_url"),
    ({"HERALD_WEBHOOK_URL": "http://", "HERALD_WEBHOOK_SECRET": SECRET}, "webhook_url"),
    ({"HERALD_WEBHOOK_URL": "http://x/", "HERALD_WEBHOOK_SECRET": SECRET,
      "HERALD_WEBHOOK_EVENTS": "user.offline,user.away"}, "webhook_events"),
    ({"HERALD_OFFLINE_AFTER_S": "0"}, "offline_after_s"),
], ids=["url-without-secret", "ftp-url", "no-host", "unknown-event", "offline-0"])
def test_a_bad_webhook_setting_exits_2(herald_bin, tmp_path, env, key):
    assert_refused_naming(run_refused(herald_bin, tmp_path, env=env), key)
