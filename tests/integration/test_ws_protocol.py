"""RFC 6455 on the wire: fragmentation, control frames, protocol errors, the closing handshake,
upgrade header checks, keep-alive pings, and frames written back to back under load."""
import base64
import json
import os
import socket
import struct
import time

import pytest

import herald_daemon
import herald_http
import herald_ws

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def next_frame(c, timeout=3.0):
    """The next frame of any kind, control frames included, as (fin, opcode, payload)."""
    try:
        return c._raw_frame(time.monotonic() + timeout)
    except socket.timeout:
        raise AssertionError("no frame within %.1fs" % timeout)


def close_frame(c, timeout=3.0):
    """Reads frames until a close frame; returns (code, reason). Fails on EOF without one."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fin, op, payload = c._raw_frame(deadline)
        except socket.timeout:
            raise AssertionError("no close frame within %.1fs" % timeout)
        except herald_ws.Closed:
            raise AssertionError("the connection ended without a close frame")
        if op == CLOSE:
            code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
            return code, payload[2:]


def wait_eof(sock, timeout=3.0):
    """True once the server ended the TCP connection (EOF or reset) before the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False


masked = herald_ws.client_frame


def raw_upgrade(d, token, version="13", key="generate"):
    """An upgrade request with control over Sec-WebSocket-Version and -Key (None leaves the
    header out). Returns a herald_http.Resp for a refusal, or the status 101 as Resp too."""
    lines = ["GET /v1/ws?token=%s HTTP/1.1" % token, "Host: %s:%d" % (herald_daemon.HOST, d.public_port),
             "Upgrade: websocket", "Connection: Upgrade"]
    if key == "generate":
        key = base64.b64encode(os.urandom(16)).decode()
    if key is not None:
        lines.append("Sec-WebSocket-Key: " + key)
    if version is not None:
        lines.append("Sec-WebSocket-Version: " + version)
    sock = socket.create_connection((herald_daemon.HOST, d.public_port), timeout=5)
    try:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        deadline = time.monotonic() + 5
        status, headers, body = herald_ws._read_headers(sock, deadline)
        length = int(headers.get("content-length", "0"))
        while len(body) < length and time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return herald_http.Resp(status, headers, body)
    finally:
        sock.close()


# ---- fragmentation --------------------------------------------------------------------------

def test_a_ping_message_split_over_three_frames_is_handled_as_one(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(TEXT, '{"ty', fin=False)
    c.send_frame(CONT, 'pe":"pi', fin=False)
    c.send_frame(CONT, 'ng"}', fin=True)
    assert c.expect("pong") == {"type": "pong"}
    c.send_json({"type": "ping"})  # and the next message starts afresh
    assert c.expect("pong") == {"type": "pong"}
    c.close()


def test_a_fragmented_message_reassembles_across_separate_tcp_writes(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    data = masked(TEXT, '{"type":', fin=False) + masked(CONT, '"ping"}')
    for i in range(len(data)):  # one byte per segment: every frame boundary split
        c.sock.sendall(data[i:i + 1])
        time.sleep(0.002)
    assert c.expect("pong") == {"type": "pong"}


def test_a_ping_control_frame_between_fragments_is_answered_and_the_message_completes(
        shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(TEXT, '{"type"', fin=False)
    c.send_frame(PING, b"mid")
    c.send_frame(CONT, ':"ping"}', fin=True)
    fin, op, payload = next_frame(c)
    assert (fin, op, payload) == (True, PONG, b"mid")
    assert c.expect("pong") == {"type": "pong"}


def test_fragments_together_over_the_frame_limit_close_with_1009(launch, new_user):
    d = launch(env={"HERALD_MAX_FRAME_BYTES": "100"})
    c = d.ws(new_user())
    piece = "x" * 40  # each fragment alone is under the limit; the three are 120 bytes
    c.send_frame(TEXT, piece, fin=False)
    c.send_frame(CONT, piece, fin=False)
    try:
        c.send_frame(CONT, piece, fin=True)
    except OSError:
        pass  # the server may already have closed
    code, _ = close_frame(c)
    assert code == 1009
    assert wait_eof(c.sock)
    # Fragments adding up to exactly the limit are one message of the right size.
    ok = d.ws(new_user())
    text = '{"type":"ping","pad":"' + "y" * (100 - 24) + '"}'
    assert len(text) == 100
    ok.send_frame(TEXT, text[:34], fin=False)
    ok.send_frame(CONT, text[34:67], fin=False)
    ok.send_frame(CONT, text[67:], fin=True)
    first = ok.recv_json()
    assert first["type"] in ("pong", "error"), first  # extra fields may be refused, not closed
    ok.send_json({"type": "ping"})
    assert ok.expect("pong") == {"type": "pong"}


# ---- data and control frames ----------------------------------------------------------------

def test_a_binary_frame_gets_invalid_frame_and_the_connection_stays_open(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(BINARY, b'{"type":"ping"}')
    frame = c.expect("error")
    assert frame["code"] == "invalid_frame", frame
    c.send_frame(BINARY, b"\x00\xff", fin=False)  # a fragmented binary message too
    c.send_frame(CONT, b"\x01")
    assert c.expect("error")["code"] == "invalid_frame"
    c.send_json({"type": "ping"})
    assert c.expect("pong") == {"type": "pong"}


@pytest.mark.parametrize("payload", [b"", b"hello", bytes(range(125))], ids=["empty", "5", "125"])
def test_a_websocket_ping_gets_a_pong_with_the_same_payload(shared_herald, new_user, payload):
    c = shared_herald.ws(new_user())
    c.send_frame(PING, payload)
    assert next_frame(c) == (True, PONG, payload)
    c.send_json({"type": "ping"})
    assert c.expect("pong") == {"type": "pong"}


def test_an_unsolicited_pong_is_ignored(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(PONG, b"anything")
    c.send_json({"type": "ping"})
    fin, op, payload = next_frame(c)  # the next frame is the JSON pong, not a reply to the pong
    assert (fin, op) == (True, TEXT) and json.loads(payload) == {"type": "pong"}, (fin, op, payload)


# ---- protocol errors close with 1002 --------------------------------------------------------

PROTOCOL_ERRORS = {
    "unmasked": bytes([0x81, 15]) + b'{"type":"ping"}',
    "reserved_bit": masked(TEXT, '{"type":"ping"}', rsv=0x40),
    "unknown_opcode": masked(0x3, "x"),
    "control_over_125": masked(PING, b"p" * 126),
    "control_not_final": masked(PING, b"p", fin=False),
    "continuation_first": masked(CONT, '{"type":"ping"}'),
    "text_inside_fragmented": masked(TEXT, '{"ty', fin=False) + masked(TEXT, '{"type":"ping"}'),
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_ERRORS))
def test_a_protocol_violation_closes_with_1002(shared_herald, new_user, name):
    uid = new_user()
    c = shared_herald.ws(uid)
    c.sock.sendall(PROTOCOL_ERRORS[name])
    code, _ = close_frame(c)
    assert code == 1002, "%s: got close code %r" % (name, code)
    assert wait_eof(c.sock), "%s: the connection stayed open after the close frame" % name
    shared_herald.wait_presence(uid, 0)


@pytest.mark.parametrize("data,want", [
    (PROTOCOL_ERRORS["unmasked"], 1002),
    (masked(TEXT, "x" * 5000), 1009),
], ids=["unmasked_1002", "too_big_1009"])
def test_a_failed_connection_ends_right_after_its_close_frame(shared_herald, new_user, data, want):
    # The server reads nothing more from a stream that broke the protocol, so it cannot wait
    # for the client's close reply: the TCP connection ends as soon as the close frame is out.
    c = shared_herald.ws(new_user())
    try:
        c.sock.sendall(data)
    except OSError:
        pass
    code, _ = close_frame(c)
    assert code == want
    sent = time.monotonic()
    assert wait_eof(c.sock, 0.5), "TCP still open %.1fs after the close frame" % (time.monotonic() - sent)


# ---- closing handshake ----------------------------------------------------------------------

def test_a_client_close_is_answered_with_a_close_frame_then_the_connection_ends(shared_herald, new_user):
    uid = new_user()
    c = shared_herald.ws(uid)
    shared_herald.wait_presence(uid, 1)
    c.send_frame(CLOSE, struct.pack("!H", 1000) + b"bye")
    fin, op, payload = next_frame(c)
    assert (fin, op) == (True, CLOSE), (fin, op, payload)
    assert struct.unpack("!H", payload[:2])[0] == 1000
    assert wait_eof(c.sock), "the server kept the TCP connection after the closing handshake"
    shared_herald.wait_presence(uid, 0)


def test_a_close_without_a_code_is_answered_too(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(CLOSE, b"")
    fin, op, payload = next_frame(c)
    assert (fin, op) == (True, CLOSE), (fin, op, payload)
    assert payload == b"" or payload[:2] == struct.pack("!H", 1000), payload
    assert wait_eof(c.sock)


@pytest.mark.parametrize("payload", [b"\x03", struct.pack("!H", 999), struct.pack("!H", 1005),
                                     struct.pack("!H", 1016), struct.pack("!H", 5000)],
                         ids=["one_byte", "999", "1005", "1016", "5000"])
def test_a_close_frame_with_a_bad_payload_is_answered_with_1002(shared_herald, new_user, payload):
    c = shared_herald.ws(new_user())
    c.send_frame(CLOSE, payload)
    fin, op, answer = next_frame(c)
    assert (fin, op) == (True, CLOSE), (fin, op, answer)
    assert struct.unpack("!H", answer[:2])[0] == 1002, answer
    assert wait_eof(c.sock)


def test_an_application_close_code_is_echoed(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_frame(CLOSE, struct.pack("!H", 4000) + b"done")
    fin, op, answer = next_frame(c)
    assert (fin, op) == (True, CLOSE), (fin, op, answer)
    assert struct.unpack("!H", answer[:2])[0] == 4000, answer
    assert wait_eof(c.sock)


def test_clients_that_break_the_protocol_and_reset_leave_nothing_behind(shared_herald, new_user):
    # A ping (whose pong the server tries to write), then a broken frame, then a TCP reset, in
    # one go: every such session must leave the registry (presence 0) and the daemon stays up.
    uid = new_user()
    for _ in range(30):
        c = shared_herald.ws(uid)
        c.sock.sendall(masked(PING, b"x") + bytes([0x81, 0x05]) + b"hello")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()
    shared_herald.wait_presence(uid, 0)
    ok = shared_herald.ws(uid)
    ok.send_json({"type": "ping"})
    ok.expect("pong")


# ---- upgrade checks -------------------------------------------------------------------------

FIELDS = {"version": ("Sec-WebSocket-Version", "sec-websocket-version"),
          "key": ("Sec-WebSocket-Key", "sec-websocket-key")}


@pytest.mark.parametrize("version,key,field", [
    (None, "generate", "version"),
    ("8", "generate", "version"),
    ("14", "generate", "version"),
    ("13", None, "key"),
    ("13", "", "key"),
    ("13", "abc", "key"),
    ("13", base64.b64encode(os.urandom(15)).decode(), "key"),  # 15 bytes, no padding
    ("13", base64.b64encode(os.urandom(17)).decode(), "key"),  # 17 bytes
    ("13", "dGhlIHNhbXBsZSBub25j!Q==", "key"),
], ids=["no_version", "version_8", "version_14", "no_key", "empty_key", "short_key",
        "key_15_bytes", "key_17_bytes", "key_not_base64"])
def test_an_upgrade_with_a_bad_version_or_key_is_refused_with_400(shared_herald, new_user, version, key, field):
    r = raw_upgrade(shared_herald, shared_herald.token(new_user()), version, key)
    herald_http.assert_error(r, 400, "invalid_argument", FIELDS[field])
    assert "sec-websocket-accept" not in r.headers
    if field == "version":
        assert r.headers.get("sec-websocket-version") == "13", r.headers


def test_an_upgrade_with_version_13_and_a_good_key_is_accepted(shared_herald, new_user):
    r = raw_upgrade(shared_herald, shared_herald.token(new_user()), "13", "dGhlIHNhbXBsZSBub25jZQ==")
    assert r.status == 101, r
    assert r.headers.get("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# ---- keep-alive -----------------------------------------------------------------------------

def test_the_server_pings_idle_clients_and_cuts_those_that_do_not_answer(launch, new_user):
    d = launch(env={"HERALD_PING_INTERVAL_S": "1", "HERALD_PONG_TIMEOUT_S": "1"})
    mute_uid, alive_uid = new_user(), new_user()
    mute = d.ws(mute_uid)
    alive = d.ws(alive_uid)
    d.wait_presence(mute_uid, 1)
    # Reads for 5 s; recv_message answers every ping with a pong.
    reader, alive_errors = alive.assert_silent_in_background(5)
    try:
        fin, op, payload = next_frame(mute, 4)
        pinged = time.monotonic()
        assert op == PING, "expected a WebSocket ping, got opcode %d %r" % (op, payload)
        # No pong: the connection is cut within about a second or two after the ping.
        try:
            while True:
                fin, op, payload = next_frame(mute, 4)
                assert op in (PING, CLOSE), "unexpected frame %d %r" % (op, payload)
                if op == CLOSE:
                    break
        except herald_ws.Closed:
            pass
        assert wait_eof(mute.sock, 4), "an unanswering client was not cut"
        cut = time.monotonic()
        assert cut - pinged < 3.5, "cut %.2fs after the ping" % (cut - pinged)
        d.wait_presence(mute_uid, 0)
    finally:
        reader.join(10)
    assert not alive_errors, "a client answering pings was disturbed: %r" % alive_errors
    assert alive.pings_seen >= 2, alive.pings_seen
    d.wait_presence(alive_uid, 1)
    alive.send_json({"type": "ping"})
    assert alive.expect("pong") == {"type": "pong"}


# ---- writes back to back --------------------------------------------------------------------

def test_a_burst_of_pushes_to_one_socket_arrives_intact_and_in_order(launch, new_user):
    d = launch(env={"HERALD_MAX_QUEUE_BYTES": str(16 << 20)})
    uid = new_user()
    # About 6 MB to a client that reads nothing until the end, with a small receive window:
    # more than the kernel buffers hold, so the server's writes stop part way through frames
    # and later pushes (and pongs) queue behind a partly written one.
    c = d.ws(uid, rcvbuf=4096)
    d.wait_presence(uid, 1)
    n = 400
    sizes = [1 + i % 100 if i % 10 == 0 else 16384 - (i * 7919) % 4000 for i in range(n)]
    ping_at = set(range(25, n, 100))  # a JSON ping whose pong queues among the pushes
    for i in range(n):
        r = d.notify(user_id=uid, title="burst %d" % i, content=chr(ord("a") + i % 26) * sizes[i],
                     data={"i": i}, persist=False)
        assert r.status == 200, r
        if i in ping_at:
            c.send_json({"type": "ping"})
    got = []
    deadline = time.monotonic() + 10
    while len(got) < n + len(ping_at):
        try:
            op, payload = c.recv_message(max(0.01, deadline - time.monotonic()))
        except (socket.timeout, herald_ws.Closed) as e:
            raise AssertionError("burst cut short after %d frames: %r" % (len(got), e))
        assert op == TEXT, op
        got.append(json.loads(payload))
    desktops = [f for f in got if f["type"] == "desktop"]
    pongs = [f for f in got if f["type"] == "pong"]
    assert len(pongs) == len(ping_at), [f["type"] for f in got]
    assert [f["data"]["i"] for f in desktops] == list(range(n))
    for f in desktops:
        i = f["data"]["i"]
        assert f["title"] == "burst %d" % i
        assert f["content"] == chr(ord("a") + i % 26) * sizes[i], "frame %d corrupted" % i
    c.send_json({"type": "ping"})
    assert c.expect("pong") == {"type": "pong"}
