"""A minimal RFC 6455 client over a raw socket, so tests see close codes, can send oversized
frames, and can open a connection that never reads. Every wait has a deadline."""
import base64
import hashlib
import json
import os
import socket
import struct
import threading
import time

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    """The server closed the connection: `code` is the close code, or None on EOF/reset."""

    def __init__(self, code, reason):
        super().__init__("closed code=%r reason=%r" % (code, reason))
        self.code = code
        self.reason = reason


class Handshake:
    def __init__(self, status, headers, body, client):
        self.status = status
        self.headers = headers
        self.body = body
        self.client = client

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError("upgrade refusal body is not JSON (%s): %r" % (e, self.body[:300]))


def _read_headers(sock, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            raise AssertionError("no HTTP answer to the upgrade request in time")
        if not chunk:
            raise AssertionError("connection closed before the upgrade answer: %r" % buf)
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, rest


def handshake(host, port, path, headers=None, timeout=5.0, rcvbuf=None):
    """Sends an upgrade request. On 101 returns a Handshake with a WsClient; otherwise the
    status, headers and body of the refusal."""
    deadline = time.monotonic() + timeout
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(timeout)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET %s HTTP/1.1" % path, "Host: %s:%d" % (host, port), "Upgrade: websocket",
             "Connection: Upgrade", "Sec-WebSocket-Key: " + key, "Sec-WebSocket-Version: 13"]
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    status, hdrs, rest = _read_headers(sock, deadline)
    if status == 101:
        want = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        assert hdrs.get("sec-websocket-accept") == want, "bad Sec-WebSocket-Accept: %r" % hdrs
        return Handshake(101, hdrs, b"", WsClient(sock, rest))
    body = rest
    length = int(hdrs.get("content-length", "-1"))
    while length < 0 or len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not chunk:
            break
        body += chunk
    sock.close()
    return Handshake(status, hdrs, body, None)


def client_frame(opcode, payload, fin=True, rsv=0):
    """A masked client frame's bytes (`rsv`: reserved bits, e.g. 0x40, for refusal tests)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class WsClient:
    def __init__(self, sock, leftover=b"", auto_pong=True):
        self.sock = sock
        self.buf = leftover
        self.auto_pong = auto_pong
        self.pings_seen = 0
        self.closed = None
        self.initial_count = None
        self.initial_sync = None

    # ---- sending -------------------------------------------------------------------------
    def send_frame(self, opcode, payload, fin=True):
        self.sock.sendall(client_frame(opcode, payload, fin))

    def send_text(self, text):
        self.send_frame(0x1, text)

    def send_json(self, obj):
        self.send_text(json.dumps(obj))

    def close(self, code=1000):
        if self.sock is None:
            return
        try:
            self.send_frame(0x8, struct.pack("!H", code))
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self.sock = None

    # ---- receiving -----------------------------------------------------------------------
    def _fill(self, n, deadline):
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise socket.timeout()
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(262144)
            except (ConnectionResetError, BrokenPipeError):
                self.closed = Closed(None, "reset")
                raise self.closed
            if not chunk:
                self.closed = Closed(None, "eof")
                raise self.closed
            self.buf += chunk

    def _raw_frame(self, deadline):
        """One whole frame; bytes stay buffered until the frame is complete, so a timeout
        never loses data."""
        self._fill(2, deadline)
        b0, b1 = self.buf[0], self.buf[1]
        assert not (b1 & 0x80), "server frames must not be masked"
        n, head = b1 & 0x7F, 2
        if n == 126:
            self._fill(4, deadline)
            n, head = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._fill(10, deadline)
            n, head = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._fill(head + n, deadline)
        payload, self.buf = self.buf[head:head + n], self.buf[head + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def recv_message(self, timeout=3.0):
        """Next data message as (opcode, payload); answers pings; raises Closed on close, and
        socket.timeout when nothing arrives before the deadline."""
        if self.closed is not None:
            raise self.closed
        deadline = time.monotonic() + timeout
        parts, first_op = [], None
        while True:
            fin, op, payload = self._raw_frame(deadline)
            if op == 0x9:
                self.pings_seen += 1
                if self.auto_pong:
                    self.send_frame(0xA, payload)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
                try:
                    self.send_frame(0x8, payload[:2])
                except OSError:
                    pass
                self.closed = Closed(code, payload[2:].decode("utf-8", "replace"))
                raise self.closed
            if op in (0x1, 0x2):
                first_op, parts = op, [payload]
            else:
                parts.append(payload)
            if fin:
                return first_op, b"".join(parts)

    def recv_json(self, timeout=3.0):
        try:
            op, payload = self.recv_message(timeout)
        except socket.timeout:
            raise AssertionError("no frame within %.1fs" % timeout)
        assert op == 0x1, "expected a text frame, got opcode %d" % op
        obj = json.loads(payload)
        assert isinstance(obj, dict) and isinstance(obj.get("type"), str), obj
        return obj

    def expect(self, type_, timeout=3.0):
        """The very next frame must have this type."""
        frame = self.recv_json(timeout)
        assert frame["type"] == type_, "expected a %s frame, got %r" % (type_, frame)
        return frame

    def wait_for(self, pred, timeout=3.0, what="matching frame"):
        """Reads frames until `pred(frame)` holds; returns it (others are kept in .skipped)."""
        deadline = time.monotonic() + timeout
        self.skipped = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %s within %.1fs; saw %r" % (what, timeout, self.skipped))
            try:
                op, payload = self.recv_message(left)
            except socket.timeout:
                continue
            frame = json.loads(payload)
            if pred(frame):
                return frame
            self.skipped.append(frame)

    def wait_count(self, unread, timeout=3.0):
        return self.wait_for(lambda f: f.get("type") == "count" and f.get("unread") == unread,
                             timeout, "count frame with unread=%d" % unread)

    def assert_silent(self, duration=0.5):
        """No data frame arrives within `duration` seconds."""
        try:
            op, payload = self.recv_message(duration)
        except socket.timeout:
            return
        raise AssertionError("expected no frame, got %r" % payload[:300])

    def assert_silent_in_background(self, duration):
        """assert_silent on a thread of its own (reading answers every ping meanwhile); returns
        the started thread and the list that gets what it raised."""
        errors = []

        def read():
            try:
                self.assert_silent(duration)
            except BaseException as e:  # noqa: B902 - the caller checks the list
                errors.append(e)

        reader = threading.Thread(target=read)
        reader.start()
        return reader, errors

    def expect_close(self, timeout=5.0):
        """Reads (and drops) frames until the server closes; returns the close code (None for
        EOF/reset without a close frame)."""
        return self.close_frame(timeout)[0]

    def close_frame(self, timeout=5.0):
        """Reads (and drops) frames until the server closes; returns (code, reason) of its close
        frame ((None, "") for EOF/reset without one)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("connection not closed within %.1fs" % timeout)
            try:
                self.recv_message(left)
            except socket.timeout:
                continue
            except Closed as c:
                return c.code, c.reason
