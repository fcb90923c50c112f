"""The WebSocket session against hostile and racing clients: UTF-8 and length rules of RFC 6455,
the close frame after a protocol error, frames sent with the upgrade request, client commands
bounded per connection, the token's life on an open connection, and notification delivery per
connection (in id order, never twice, nothing skipped on a reconnect with `since`)."""
import base64
import json
import os
import socket
import struct
import threading
import time

import herald_daemon
import herald_ws
from test_ws_protocol import CLOSE, PING, PONG, TEXT, CONT, close_frame, masked, next_frame, wait_eof
from ws_since import check_since, read_since


# ---- UTF-8, lengths, the close after a protocol error ---------------------------------------

def test_text_that_is_not_utf8_closes_with_1007_and_valid_text_is_answered(shared_herald, new_user):
    ok = shared_herald.ws(new_user())
    ok.send_frame(TEXT, '{"type":"ping","note":"h\u00e9llo \u20ac"}')  # positive control
    assert ok.expect("pong") == {"type": "pong"}
    c = shared_herald.ws(new_user())
    c.sock.sendall(masked(TEXT, b'{"type":"ping","x":"\xff"}'))
    code, _ = close_frame(c)
    assert code == 1007


def test_a_bad_first_fragment_closes_with_1007_before_the_message_ends(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.sock.sendall(masked(TEXT, b'{"type":"\xc0\xaf', fin=False))  # an overlong '/'
    code, _ = close_frame(c)
    assert code == 1007


def test_a_character_split_across_fragments_is_fine(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.sock.sendall(masked(TEXT, b'{"type":"ping","x":"\xe2\x82', fin=False) + masked(CONT, b'\xac"}'))
    assert c.expect("pong") == {"type": "pong"}


def test_a_close_reason_that_is_not_utf8_gets_1007_not_an_echo(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.sock.sendall(masked(CLOSE, struct.pack("!H", 1000) + b"\xff\xfe"))
    code, _ = close_frame(c)
    assert code == 1007
    d = shared_herald.ws(new_user())  # positive control: a valid reason is echoed as its code
    d.sock.sendall(masked(CLOSE, struct.pack("!H", 1000) + "bye \u00e9".encode()))
    code, _ = close_frame(d)
    assert code == 1000


def _with_len(head_byte, length_bytes, payload):
    mask = os.urandom(4)
    return bytes([head_byte]) + length_bytes + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_lengths_not_in_their_shortest_form_close_with_1002(shared_herald, new_user):
    body = b'{"type":"ping"}'
    for encoded in (bytes([0x80 | 126]) + struct.pack("!H", len(body)),
                    bytes([0x80 | 127]) + struct.pack("!Q", len(body))):
        c = shared_herald.ws(new_user())
        c.sock.sendall(_with_len(0x81, encoded, body))
        code, _ = close_frame(c)
        assert code == 1002


def test_a_64bit_length_with_the_top_bit_set_is_1002_not_1009(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.sock.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", (1 << 63) | 5))
    code, _ = close_frame(c)
    assert code == 1002
    d = shared_herald.ws(new_user())  # control: a huge but legal length is "too big"
    d.sock.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 1 << 40))
    code, _ = close_frame(d)
    assert code == 1009


def test_the_close_frame_arrives_although_the_client_keeps_sending(shared_herald, new_user):
    # Past the limit, with a lot more data behind it: the server must not reset the
    # connection with those bytes unread, or the 1009 close frame would be lost.
    for _ in range(5):
        c = shared_herald.ws(new_user())
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        junk = masked(TEXT, "x" * 5000) + os.urandom(200000)
        try:
            c.sock.sendall(junk)
        except OSError:
            pass
        code, _ = close_frame(c)
        assert code == 1009
        assert wait_eof(c.sock, 3.0)


# ---- the upgrade request and the first frames in one write -----------------------------------

def test_frames_in_the_same_write_as_the_upgrade_request_are_read(shared_herald, new_user):
    uid = new_user()
    token = shared_herald.token(uid)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET /v1/ws?token=%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
           % (token, herald_daemon.HOST, shared_herald.public_port, key)).encode()
    sock = socket.create_connection((herald_daemon.HOST, shared_herald.public_port), timeout=5)
    sock.sendall(req + masked(PING, b"early") + masked(TEXT, '{"type":"ping"}'))
    status, headers, rest = herald_ws._read_headers(sock, time.monotonic() + 5)
    assert status == 101
    c = herald_ws.WsClient(sock, rest, auto_pong=False)
    seen_pong, seen_json_pong = False, False
    deadline = time.monotonic() + 5
    while not (seen_pong and seen_json_pong) and time.monotonic() < deadline:
        fin, op, payload = next_frame(c, deadline - time.monotonic())
        if op == PONG:
            assert payload == b"early"
            seen_pong = True
        elif op == TEXT and json.loads(payload)["type"] == "pong":
            seen_json_pong = True
    assert seen_pong and seen_json_pong
    c.close()


# ---- client commands in flight ---------------------------------------------------------------

def test_a_flood_of_commands_on_one_socket_does_not_delay_another_user(launch, new_user):
    d = launch(env={"HERALD_MAX_COMMANDS_IN_FLIGHT": "4"})
    flooder = d.ws(new_user())
    other = new_user()
    other_token = d.token(other)
    frames = b"".join(masked(TEXT, '{"type":"read","id":%d}' % (900000000 + i)) for i in range(20000))
    stop = threading.Event()

    def flood():
        try:
            flooder.sock.sendall(frames)
        except OSError:
            pass
        stop.set()

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    worst = 0.0
    samples = 0
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        start = time.monotonic()
        r = d.public("GET", "/v1/inbox/unread_count", token=other_token)
        assert r.status == 200
        worst = max(worst, time.monotonic() - start)
        samples += 1
        time.sleep(0.02)
    assert samples > 10
    # The flooding socket is throttled, not dropped: its commands are answered in turn.
    errors = 0
    t_end = time.monotonic() + 60
    while errors < 50 and time.monotonic() < t_end:
        f = flooder.recv_json(10)
        if f["type"] == "error":
            assert f["code"] == "not_found"
            errors += 1
    assert errors == 50
    metrics = d.internal("GET", "/metrics", key=False).body.decode()
    throttled = [l for l in metrics.splitlines() if l.startswith("herald_ws_commands_throttled_total")]
    assert throttled and float(throttled[0].split()[-1]) > 0, throttled
    assert worst < 1.0, "another user's count took %.2fs during the flood" % worst
    flooder.close()


# ---- the token's life on an open connection --------------------------------------------------

def test_a_connection_ends_with_4001_when_its_token_expires(launch, new_user):
    d = launch(env={"HERALD_TOKEN_REFRESH_WINDOW_S": "2"})
    uid = new_user()
    exp = int(time.time()) + 4
    c = d.ws(token=d.token(uid, ttl=exp - int(time.time())))
    warn = c.wait_for(lambda f: f["type"] == "token_expiring", timeout=6, what="token_expiring")
    assert warn["exp"] == exp
    assert time.time() >= exp - 2 - 0.05  # never earlier than exp - window
    try:
        while True:
            c.recv_message(6)
    except herald_ws.Closed as closed:
        assert closed.code == 4001
        assert closed.reason == "token expired"
    assert time.time() <= exp + 2.5


def test_a_refresh_outlives_the_first_token(launch, new_user):
    d = launch(env={"HERALD_TOKEN_REFRESH_WINDOW_S": "2"})
    uid = new_user()
    c = d.ws(token=d.token(uid, ttl=3))
    c.wait_for(lambda f: f["type"] == "token_expiring", timeout=5, what="token_expiring")
    longer = d.token(uid, ttl=3600)
    c.send_json({"type": "refresh", "token": longer})
    refreshed = c.expect("refreshed")
    assert refreshed["exp"] > time.time() + 3000
    time.sleep(3)
    c.send_json({"type": "ping"})
    assert c.wait_for(lambda f: f["type"] == "pong", timeout=3)
    n = d.notify_ok(user_id=uid, title="still here")
    assert c.wait_for(lambda f: f["type"] == "notification", timeout=3)["notification"]["id"] == n["id"]


def test_a_refused_refresh_keeps_the_connection_and_another_users_token_closes_it(launch, new_user):
    d = launch()
    uid = new_user()
    c = d.ws(uid)
    c.send_json({"type": "refresh", "token": "not.a.token"})
    err = c.expect("error")
    assert err["code"] == "unauthenticated"
    c.send_json({"type": "ping"})
    assert c.expect("pong")
    c.send_json({"type": "refresh", "token": d.token(new_user())})
    err = c.expect("error")
    assert err["code"] == "forbidden"
    try:
        while True:
            c.recv_message(3)
    except herald_ws.Closed as closed:
        assert closed.code == 4003


def test_a_refresh_with_other_groups_moves_the_count_and_the_group_pushes(launch, new_user):
    d = launch()
    uid = new_user()
    d.notify_ok(audience="org/2", title="for org 2")
    c = d.ws(uid, groups=["org/1"])
    assert c.initial_count == 0
    c.send_json({"type": "refresh", "token": d.token(uid, groups=["org/2"])})
    assert c.expect("refreshed")
    assert c.expect("count")["unread"] == 1  # refreshed comes first, then the count it causes
    d.notify_ok(audience="org/1", title="old group")
    n2 = d.notify_ok(audience="org/2", title="new group")
    f = c.wait_for(lambda f: f["type"] == "notification", timeout=3)
    assert f["notification"]["id"] == n2["id"]
    assert f["unread"] == 2


# ---- delivery per connection -----------------------------------------------------------------

def test_reconnects_with_since_under_load_never_repeat_or_skip_an_item(launch, new_user):
    d = launch()
    uid = new_user()
    stop = threading.Event()
    sent = []

    def load():
        while not stop.is_set():
            r = d.notify(user_id=uid, title="n")
            if r.status == 200:
                sent.append(r.json["id"])

    workers = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for w in workers:
        w.start()
    last = 0
    seen = []
    try:
        for _ in range(25):
            c = d.ws(uid, since=last, read_initial=False)
            try:
                synced, live, first = read_since(c)
            finally:
                c.close()
            last = check_since(synced, live, last, first=first)
            seen += synced + live
    finally:
        stop.set()
        for w in workers:
            w.join(5)
    # Everything stored up to the last id seen was seen once.
    stored = sorted(i for i in sent if i <= last)
    assert sorted(seen) == stored


def test_an_ack_is_never_answered_and_a_bad_one_is_refused(shared_herald, new_user):
    uid = new_user()
    c = shared_herald.ws(uid)
    n = shared_herald.notify_ok(user_id=uid, title="a")
    c.wait_for(lambda f: f["type"] == "notification", timeout=3)
    c.send_json({"type": "ack", "ids": [n["id"]]})
    c.assert_silent(0.5)
    c.send_json({"type": "ack", "ids": []})
    assert c.expect("error")["code"] == "invalid_argument"
