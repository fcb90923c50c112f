"""Draining on SIGTERM and closing slow clients."""
import json
import socket
import time

import herald_ws
from herald_http import assert_error
from test_hostile import connect, read_answer


def test_sigterm_closes_websockets_with_1001_and_exits_0(launch, new_user):
    d = launch()
    clients = [d.ws(new_user()) for _ in range(3)]
    d.terminate()
    for c in clients:
        assert c.expect_close(10) == 1001
    rc = d.proc.wait(12)
    assert rc == 0, d.log_tail()
    d.log.close()


def test_after_sigterm_new_requests_are_refused_or_unanswered(launch, new_user):
    d = launch()
    c = d.ws(new_user())
    d.terminate()
    assert c.expect_close(10) == 1001
    # Until it exits, the listeners answer only 503 (readyz included).
    try:
        r = d.internal("GET", "/readyz", key=False, timeout=2)
        assert r.status == 503, r
    except OSError:
        pass  # already closed
    assert d.proc.wait(12) == 0
    d.log.close()


def test_a_body_still_arriving_at_sigterm_is_answered_and_stored_before_the_exit(launch, new_user):
    # The daemons of these tests drain with no grace period: without a request in flight the
    # process would be gone before /readyz is asked.
    d = launch()
    uid = new_user()
    body = json.dumps({"user_id": uid, "title": "half a body at SIGTERM"}).encode()
    half = len(body) // 2
    s = connect(d.internal_port, timeout=10)
    s.sendall(b"POST /v1/notify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Authorization: Bearer " + d.api_key.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:half])
    time.sleep(0.2)  # the head is read: the request is in flight
    t0 = time.monotonic()
    d.terminate()
    time.sleep(0.2)
    assert_error(d.internal("GET", "/readyz", key=False, timeout=3), 503, "unavailable")
    time.sleep(1.0)
    assert d.running(), "herald exited while a request's body was still arriving"
    s.sendall(body[half:])
    r = read_answer(s, timeout=5)
    s.close()
    assert r is not None, "the request in flight got no answer"
    assert r.status == 200 and r.json["id"] > 0, r
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 < 10
    d.log.close()
    # The item is stored: a daemon on the same store lists it.
    again = launch(store=d.store)
    page = again.inbox(again.token(uid))
    assert [(n["id"], n["title"]) for n in page["notifications"]] == [(r.json["id"], "half a body at SIGTERM")]


def test_a_client_that_never_reads_is_closed_while_others_keep_receiving(launch, new_user):
    d = launch()
    slow_user, good_user = new_user(), new_user()
    token = d.token(slow_user)
    # Complete the upgrade on a raw socket with a tiny receive buffer, then never read.
    hs = herald_ws.handshake("127.0.0.1", d.public_port, "/v1/ws?token=" + token, rcvbuf=4096)
    assert hs.status == 101
    slow = hs.client
    good = d.ws(good_user)
    d.wait_presence(slow_user, 1)
    d.wait_presence(good_user, 1)
    content = "z" * 16000
    # Kernel buffers hold a few MB (tcp_wmem max is 4 MB here); 600 frames of 16 KB (9.6 MB) is
    # far past them plus the 1 MiB queue cap.
    pushed = 0
    while pushed < 600:
        d.notify_ok(user_ids=[slow_user, good_user], title="bulk", content=content,
                    persist=False, data={"seq": pushed})
        frame = good.expect("desktop", 5)
        assert frame["data"] == {"seq": pushed}, "the good client missed frames"
        pushed += 1
        if pushed % 50 == 0 and d.presence(slow_user)["connections"] == 0:
            break
    # The close follows within a second of passing the cap; allow a few.
    d.wait_presence(slow_user, 0, timeout=5)
    # ...and the good client keeps receiving afterwards.
    d.notify_ok(user_id=good_user, title="after", persist=False)
    assert good.expect("desktop")["title"] == "after"
    # The slow socket ends with close 1013 (or a reset) once we read what reached it.
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    code = slow.expect_close(15)
    assert code in (1013, None), "slow client closed with %r, want 1013" % code


def test_count_frames_for_a_slow_reader_still_end_on_the_true_value(launch, new_user):
    d = launch()
    uid = new_user()
    c = d.ws(uid)
    token = d.token(uid)
    ids = [d.notify_ok(user_id=uid, title="n%d" % i)["id"] for i in range(5)]
    for i in ids:
        assert d.public("POST", "/v1/inbox/%d/read" % i, token=token).json["unread"] >= 0
    # Read whatever arrived; the last count frame must say 0.
    last = None
    end = time.monotonic() + 3
    while time.monotonic() < end:
        try:
            f = c.recv_json(max(0.05, end - time.monotonic()))
        except AssertionError:
            break
        if f["type"] == "count":
            last = f["unread"]
        elif f["type"] == "notification":
            last = f["unread"]
    assert last == 0
    assert d.unread(token) == 0
