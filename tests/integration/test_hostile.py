"""Hostile input at the HTTP edge: nothing a client sends takes Herald down, reaches what it
should not, or starves other users. Each bound is hit, and a positive control shows that
ordinary requests still pass."""
import json
import os
import re
import socket
import subprocess
import time

import pytest

import herald_daemon
import herald_http
from herald_daemon import HOST
from herald_http import assert_error
from test_config import assert_refused_naming, run_refused


# ---- raw HTTP ---------------------------------------------------------------------------------
def connect(port, source=None, timeout=5.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if source:
        s.bind((source, 0))
    s.settimeout(timeout)
    s.connect((HOST, port))
    return s


def read_answer(sock, timeout=5.0):
    """Reads one HTTP answer (head and Content-Length body); None when the connection closes
    (or the deadline passes) before a complete answer."""
    deadline = time.monotonic() + timeout
    buf = b""
    while True:
        head, sep, rest = buf.partition(b"\r\n\r\n")
        if sep:
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if len(rest) >= length:
                return herald_http.Resp(int(lines[0].split(" ")[1]), headers, rest[:length])
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None
        if not chunk:
            return None
        buf += chunk


def exchange(port, data, timeout=5.0):
    s = connect(port)
    try:
        s.sendall(data)
        return read_answer(s, timeout)
    finally:
        s.close()


def closed_by_peer(sock, timeout):
    """True when the server closes (EOF or reset) within `timeout`."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def metric(d, name):
    text = d.internal("GET", "/metrics", key=False).body.decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


# ---- S1: secrets too short to be secret -------------------------------------------------------
@pytest.mark.parametrize("env,key", [({"HERALD_JWT_SECRET": "s3cret"}, "HERALD_JWT_SECRET"),
                                     ({"HERALD_API_KEY": "k1"}, "HERALD_API_KEY"),
                                     ({"HERALD_API_KEY": "a-long-enough-api-key,k1"}, "HERALD_API_KEY")])
def test_a_short_jwt_secret_or_api_key_stops_the_start(herald_bin, tmp_path, env, key):
    assert_refused_naming(run_refused(herald_bin, tmp_path, env=env), key)


def test_short_secrets_are_accepted_in_dev_mode_and_long_ones_always(launch):
    dev = launch(env={"HERALD_JWT_SECRET": "s3cret", "HERALD_API_KEY": "k1"}, args=["--dev"])
    assert dev.internal("GET", "/v1/stats", key="Bearer k1").status == 200
    d = launch(env={"HERALD_JWT_SECRET": "j" * 32, "HERALD_API_KEY": "k" * 16})
    assert d.internal("GET", "/v1/stats", key="Bearer " + "k" * 16).status == 200


# ---- D5: the dev token minter ------------------------------------------------------------------
def test_dev_token_is_not_found_on_either_listener_without_dev(herald):
    r = herald.internal("POST", "/v1/dev/token", {"user_id": 7})
    assert_error(r, 404, "not_found")
    assert_error(herald.public("POST", "/v1/dev/token", {"user_id": 7}), 404, "not_found")


def test_dev_token_still_works_with_dev(launch):
    d = launch(args=["--dev"])
    r = d.public("POST", "/v1/dev/token", {"user_id": 7})
    assert r.status == 200 and r.json["user_id"] == 7, r
    assert d.internal("POST", "/v1/dev/token", {"user_id": 7}).status == 200


# ---- D6: static files ----------------------------------------------------------------------------
@pytest.fixture
def web_tree(tmp_path):
    root = tmp_path / "web"
    (root / "admin").mkdir(parents=True)
    (root / "index.html").write_text("<p>demo</p>")
    (root / "inner.txt").write_text("inside")
    (root / "admin" / "index.html").write_text("<p>console</p>")
    private = tmp_path / "web-private"
    private.mkdir()
    (private / "secret.txt").write_text("TOP SECRET")
    (tmp_path / "outside.txt").write_text("OUTSIDE")
    os.symlink(private / "secret.txt", root / "sibling-link.txt")
    os.symlink(tmp_path / "outside.txt", root / "outside-link.txt")
    os.symlink(root / "admin" / "index.html", root / "console.html")
    os.symlink(root / "inner.txt", root / "inner-link.txt")
    return tmp_path


def test_static_files_never_leave_the_canonical_web_root(launch, web_tree):
    d = launch(env={"HERALD_WEB_ROOT": str(web_tree / "web")})
    root = str(web_tree / "web")
    refused = ["/" + str(web_tree / "web-private" / "secret.txt"),  # //ABS: a sibling folder
               "/" + str(web_tree / "outside.txt"),
               "//etc/passwd",
               "/sibling-link.txt", "/outside-link.txt",
               "/" + root + "/admin/index.html",  # the console through the public port
               "/console.html", "/admin/", "/admin"]
    for path in refused:
        r = d.public("GET", path)
        assert_error(r, 404, "not_found")
        assert b"SECRET" not in r.body and b"OUTSIDE" not in r.body and b"<p>console" not in r.body, path
    # Positive controls: files (and a link) inside the root, and the console on the internal port.
    assert d.public("GET", "/").body == b"<p>demo</p>"
    assert d.public("GET", "/inner.txt").body == b"inside"
    assert d.public("GET", "/inner-link.txt").body == b"inside"
    assert d.internal("GET", "/admin/", key=False).body == b"<p>console</p>"


# ---- D2: lingering close --------------------------------------------------------------------------
def test_a_lingering_close_ends_on_time_however_the_client_trickles(herald):
    s = connect(herald.internal_port)
    s.sendall(b"GET /v1/stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    r = read_answer(s)
    assert r is not None and r.status == 401 and r.json["error"]["code"] == "unauthenticated", r
    # One byte every 0.2 s: the server must still close the socket within its deadline.
    start = time.monotonic()
    gone = False
    while time.monotonic() - start < 6:
        try:
            s.send(b"x")
        except (BrokenPipeError, ConnectionResetError):
            gone = True
            break
        time.sleep(0.2)
    s.close()
    assert gone, "the lingering close was still open after 6 s of trickled bytes"
    assert time.monotonic() - start < 5.5


# ---- D3: the body limit is chosen after routing and the key ---------------------------------------
HUGE = b"Content-Length: 8388000\r\n"


def test_a_big_body_for_an_unknown_route_is_answered_without_being_read(herald):
    for port, head, status, code in [
            (herald.public_port, b"POST /v1/notify/batch HTTP/1.1\r\nHost: x\r\n", 404, "not_found"),
            (herald.internal_port, b"POST /v1/notify/batch HTTP/1.1\r\nHost: x\r\n", 401, "unauthenticated"),
            (herald.internal_port, b"POST /v1/notify/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\n",
             401, "unauthenticated")]:
        s = connect(port)
        s.sendall(head + HUGE + b"\r\n" + b"x" * 1000)
        t0 = time.monotonic()
        r = read_answer(s, timeout=3)
        s.close()
        assert r is not None, "no answer before the body (port %d)" % port
        assert time.monotonic() - t0 < 2
        assert_error(r, status, code)
        assert r.headers.get("connection", "").lower() == "close"
    assert metric(herald, 'herald_requests_refused_total{reason="body_unread"}') >= 3


def test_a_batch_with_the_key_still_takes_a_body_past_the_default_limit(herald, new_user):
    # Positive control: the batch route with a valid key reads a body bigger than 64 KiB.
    uid = new_user()
    entries = [{"user_id": uid, "title": "t%d" % i, "content": "c" * 400, "persist": False} for i in range(200)]
    body = json.dumps({"notifications": entries}).encode()
    assert len(body) > 65536
    s = connect(herald.internal_port)
    s.sendall(b"POST /v1/notify/batch HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + herald.api_key.encode() +
              b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:1000])
    time.sleep(0.2)
    s.sendall(body[1000:])
    r = read_answer(s, timeout=10)
    s.close()
    assert r is not None and r.status == 200 and len(r.json["results"]) == 200, r


# ---- D4: depth of JSON bodies and frames ------------------------------------------------------------
def deep(n):
    return "[" * n + "]" * n


def test_a_batch_entry_nested_100000_deep_is_refused_naming_the_field(herald, new_user):
    uid = new_user()
    body = '{"notifications":[{"user_id":%d,"title":"t","data":{"k":%s}}]}' % (uid, deep(100000))
    r = herald.internal("POST", "/v1/notify/batch", body, headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_argument", "data")
    r = herald.internal("POST", "/v1/notify", '{"user_id":%d,"title":"t","data":{"k":%s}}' % (uid, deep(30000)))
    assert_error(r, 400, "invalid_argument", "data")
    assert herald.internal("GET", "/healthz", key=False).status == 200
    # Positive control: a nested but shallow data object is stored.
    assert herald.notify_ok(user_id=uid, title="ok", data={"k": json.loads(deep(20))})["id"] > 0


def test_a_deep_client_frame_gets_an_error_frame_and_the_connection_stays(herald, new_user):
    c = herald.ws(new_user())
    c.send_text('{"type":"ping","x":%s}' % deep(1500))
    f = c.expect("error")
    assert f["code"] == "invalid_argument" and '"x"' in f["message"], f
    c.send_text('{"type":"ping","x":%s}' % deep(3))
    c.expect("pong")


# ---- I1: malformed HTTP gets the error envelope ------------------------------------------------------
@pytest.mark.parametrize("raw", [
    b"GE(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/notify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"GET /healthz HTTP/1.1\nHost: x\n\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
], ids=["bad-method", "two-content-lengths", "bare-lf", "nul-in-header"])
def test_malformed_http_is_answered_400_with_the_envelope(shared_herald, raw):
    for port in (shared_herald.public_port, shared_herald.internal_port):
        r = exchange(port, raw)
        assert r is not None, "no answer to %r" % raw
        assert_error(r, 400, "invalid_argument")
        assert r.headers.get("connection", "").lower() == "close"
    # Positive control: the same request well formed.
    r = exchange(shared_herald.internal_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r is not None and r.status == 200


# ---- Drain ---------------------------------------------------------------------------------------
def test_a_request_whose_body_is_arriving_at_sigterm_gets_its_real_answer(launch, new_user):
    d = launch()
    body = json.dumps({"user_id": new_user(), "title": "in flight"}).encode()
    s = connect(d.internal_port, timeout=10)
    s.sendall(b"POST /v1/notify HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d.api_key.encode() +
              b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
    time.sleep(0.2)
    d.terminate()
    time.sleep(0.3)
    # A new request meanwhile: 503, with the envelope.
    assert_error(d.internal("GET", "/readyz", key=False, timeout=3), 503, "unavailable")
    s.sendall(body[10:])
    r = read_answer(s, timeout=5)
    s.close()
    assert r is not None, "the request in flight got no answer"
    assert r.status == 200 and r.json["id"] > 0, r
    assert d.proc.wait(10) == 0
    d.log.close()


def test_readyz_and_upgrades_after_sigterm_answer_503_until_exit(launch, new_user):
    d = launch(env={"HERALD_DRAIN_GRACE_MS": "1000"})  # the default
    t0 = time.monotonic()
    d.terminate()
    time.sleep(0.2)
    assert_error(d.internal("GET", "/readyz", key=False, timeout=3), 503, "unavailable")
    hs = d.upgrade("?token=" + d.token(new_user()))
    assert hs.status == 503 and hs.json["error"]["code"] == "unavailable"
    assert d.proc.wait(10) == 0
    assert time.monotonic() - t0 < 10
    d.log.close()


# ---- D1: connection floods -----------------------------------------------------------------------
def test_the_oldest_pending_connections_are_shed_past_the_listener_cap(launch, herald_bin):
    d = launch(env={"HERALD_MAX_PENDING_CONNECTIONS": "20", "HERALD_MAX_CONNECTIONS_PER_IP": "0"})
    idle = []
    for _ in range(30):
        idle.append(connect(d.public_port))
        time.sleep(0.01)
    time.sleep(0.3)
    assert all(closed_by_peer(s, 2) for s in idle[:10]), "the oldest idle connections were not shed"
    assert not any(closed_by_peer(s, 0.2) for s in idle[-10:]), "the newest were shed"
    # Positive control: a new client is still answered.
    r = exchange(d.public_port, b"GET /v1/inbox/unread_count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                 d.token(1).encode() + b"\r\n\r\n")
    assert r is not None and r.status == 200, r
    assert metric(d, "herald_connections_shed_total") >= 10
    for s in idle:
        s.close()


def test_pending_connections_per_source_address_are_capped(launch):
    d = launch(env={"HERALD_MAX_CONNECTIONS_PER_IP": "10"})
    idle = [connect(d.public_port) for _ in range(15)]
    time.sleep(0.3)
    assert all(closed_by_peer(s, 2) for s in idle[10:]), "connections past the per-address cap stayed"
    assert not any(closed_by_peer(s, 0.2) for s in idle[:10])
    # Positive control: another address is not affected.
    s = connect(d.public_port, source="127.0.0.2")
    s.sendall(b"GET /v1/inbox/unread_count HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + d.token(1).encode() +
              b"\r\n\r\n")
    r = read_answer(s)
    assert r is not None and r.status == 200, r
    s.close()
    assert metric(d, 'herald_connections_refused_total{reason="per_ip"}') >= 5
    for s in idle:
        s.close()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.parametrize("reserved", ["64", "0"], ids=["fd-reserve", "accept-emfile"])
def test_an_idle_flood_past_the_fd_limit_leaves_health_and_the_internal_listener_answering(
        herald_bin, tmp_path, new_store, new_user, reserved):
    # The daemon runs with 300 descriptors; 400 idle unauthenticated connections arrive.
    wrapper = tmp_path / "herald-300-fds"
    wrapper.write_text("#!/bin/sh\nexec prlimit --nofile=300:300 -- %s \"$@\"\n" % herald_bin)
    wrapper.chmod(0o755)
    d = herald_daemon.Herald(str(wrapper), str(tmp_path), new_store(tmp_path),
                             env={"HERALD_MAX_PENDING_CONNECTIONS": "100000", "HERALD_MAX_CONNECTIONS_PER_IP": "0",
                                  "HERALD_RESERVED_FDS": reserved})
    d.start()
    flood = []
    try:
        for _ in range(400):
            flood.append(connect(d.public_port))
        time.sleep(0.5)
        cpu0 = cpu_seconds(d.proc.pid)
        t0 = time.monotonic()
        for _ in range(5):
            r = d.internal("GET", "/healthz", key=False, timeout=2)
            assert r.status == 200, r
            assert d.internal("GET", "/readyz", key=False, timeout=2).status == 200
            assert d.notify(user_id=new_user(), title="during the flood", persist=False).status == 200
            time.sleep(0.3)
        elapsed = time.monotonic() - t0
        busy = cpu_seconds(d.proc.pid) - cpu0
        assert busy < 0.5 * elapsed, "herald spent %.2f s of CPU in %.2f s while flooded" % (busy, elapsed)
        refused = metric(d, "herald_connections_refused_total") + metric(d, "herald_accept_pauses_total")
        assert refused > 0
        if reserved == "0":
            assert metric(d, "herald_accept_pauses_total") > 0
    finally:
        for s in flood:
            s.close()
    # Logged at most once a second, with counts.
    with open(d.log_path, "rb") as f:
        lines = [l for l in f.read().decode("utf-8", "replace").splitlines()
                 if "out of file descriptors" in l or "listener is full" in l]
    assert len(lines) <= 10, "%d log lines about the flood" % len(lines)
    # Positive control: once the flood is gone, the public side serves again.
    time.sleep(0.5)
    deadline = time.monotonic() + 5
    while True:
        try:
            c = d.ws(new_user())
            break
        except (AssertionError, OSError):
            assert time.monotonic() < deadline, "the public listener did not recover"
            time.sleep(0.2)
    c.close()
    d.stop()
