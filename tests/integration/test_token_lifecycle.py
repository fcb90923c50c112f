"""Tokens for the life of a connection: public keys (RS256, ES256), JWKS files and URLs,
issuer and audience, strict numeric claims, revocation; and expiry, token_expiring and refresh
on open connections."""
import http.server
import json
import os
import socket
import threading
import time

import pytest

import herald_daemon
import herald_jwt
from herald_daemon import API_KEY, JWT_SECRET
from herald_http import assert_error


# ---- helpers ------------------------------------------------------------------------------
def write(tmp_path, name, text):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(text if isinstance(text, str) else json.dumps(text))
    return path


def start_without_secret(launch, env):
    """A daemon with no HERALD_JWT_SECRET (keys from `env` only), tracked by the launcher."""
    d = herald_daemon.Herald(launch.binary, str(launch.workdir), launch.new_store(launch.workdir),
                             dict(env, HERALD_API_KEY=API_KEY), with_secrets=False)
    launch.daemons.append(d)
    return d.start()


def upgrade_status(h, token):
    hs = h.upgrade("?token=" + token)
    if hs.client is not None:
        hs.client.close()
    return hs


def assert_accepted(h, token):
    hs = h.upgrade("?token=" + token)
    assert hs.status == 101, "upgrade refused: %d %r" % (hs.status, hs.body)
    hs.client.expect("count")
    hs.client.close()


def assert_refused(h, token):
    hs = upgrade_status(h, token)
    assert hs.status == 401, "expected 401, got %d %r" % (hs.status, hs.body)
    assert hs.json["error"]["code"] == "unauthenticated"


def eventually_accepted(h, token, timeout=5.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = upgrade_status(h, token)
        if last.status == 101:
            return True
        time.sleep(0.1)
    raise AssertionError("token still refused after %.0fs: %d %r" % (timeout, last.status, last.body))


def still_open(client):
    client.send_json({"type": "ping"})
    client.wait_for(lambda f: f.get("type") == "pong", 3.0, "pong")


class JwksServer:
    """A JWKS document served over HTTP by the test; `doc` may change while Herald runs and
    `status` makes it fail. `gets` counts the requests."""

    def __init__(self, doc):
        self.doc = doc
        self.status = 200
        self.gets = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.gets += 1
                body = json.dumps(outer.doc).encode() if outer.status == 200 else b"down"
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/realms/shop/protocol/openid-connect/certs" % self.httpd.server_port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks_server():
    servers = []

    def make(doc):
        s = JwksServer(doc)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


# ---- public keys --------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_rs256_and_es256_tokens_are_accepted_with_a_public_key_generated_here(launch, tmp_path, new_user, kind):
    key = herald_jwt.KeyPair(kind)
    h = launch(env={"HERALD_JWT_PUBLIC_KEY": write(tmp_path, "pub.pem", key.public_pem())})
    user = new_user()
    token = key.user_token(user)
    assert_accepted(h, token)
    assert h.public("GET", "/v1/inbox/unread_count", token=token).status == 200
    # The secret keeps working beside the key; another key of the same kind does not.
    assert_accepted(h, h.token(user))
    assert_refused(h, herald_jwt.KeyPair(kind).user_token(user))
    # The other algorithm with this key's signature bytes is refused.
    other_alg = {"rsa": "ES256", "ec": "RS256"}[kind]
    assert_refused(h, key.mint({"sub": str(user), "exp": int(time.time()) + 600},
                               header={"alg": other_alg, "typ": "JWT"}))


def test_an_hs256_token_whose_secret_is_the_public_key_pem_is_refused(launch, tmp_path, new_user):
    key = herald_jwt.KeyPair("rsa")
    pem = key.public_pem()
    env = {"HERALD_JWT_PUBLIC_KEY": write(tmp_path, "pub.pem", pem)}
    user = new_user()
    forged = herald_jwt.user_token(pem, user)
    with_secret = launch(env=env)
    assert_refused(with_secret, forged)
    assert_accepted(with_secret, key.user_token(user))  # positive control
    without_secret = start_without_secret(launch, env)
    assert_refused(without_secret, forged)
    assert_refused(without_secret, herald_jwt.user_token(pem.strip(), user))
    assert_refused(without_secret, herald_jwt.user_token(JWT_SECRET, user))
    assert_accepted(without_secret, key.user_token(user))


def test_alg_none_is_refused_with_public_keys_configured(launch, tmp_path, new_user):
    key = herald_jwt.KeyPair("ec")
    h = launch(env={"HERALD_JWT_PUBLIC_KEY": write(tmp_path, "pub.pem", key.public_pem())})
    claims = {"sub": str(new_user()), "exp": int(time.time()) + 600}
    for alg in ("none", "None", "NONE"):
        assert_refused(h, herald_jwt.mint(JWT_SECRET, claims, header={"alg": alg}, signature=""))
        assert_refused(h, key.mint(claims, header={"alg": alg}))


# ---- JWKS -----------------------------------------------------------------------------------
def test_a_jwks_file_with_two_kids_picks_the_key_by_kid(launch, tmp_path, new_user):
    k1, k2 = herald_jwt.KeyPair("rsa"), herald_jwt.KeyPair("ec")
    path = write(tmp_path, "jwks.json", herald_jwt.jwks(("k1", k1), ("k2", k2)))
    h = start_without_secret(launch, {"HERALD_JWT_JWKS": path})
    user = new_user()
    assert_accepted(h, k1.user_token(user, kid="k1"))
    assert_accepted(h, k2.user_token(user, kid="k2"))
    assert_refused(h, k1.user_token(user, kid="k2"))   # k2 is the EC key
    assert_refused(h, herald_jwt.KeyPair("rsa").user_token(user, kid="k1"))
    assert_refused(h, k1.user_token(user, kid="k9"))
    assert_refused(h, herald_jwt.user_token(JWT_SECRET, user))  # no secret configured


def test_a_jwks_url_is_fetched_before_ready_and_again_for_a_key_added_while_herald_runs(
        launch, jwks_server, new_user):
    k1, k2 = herald_jwt.KeyPair("rsa"), herald_jwt.KeyPair("ec")
    srv = jwks_server(herald_jwt.jwks(("k1", k1)))
    h = launch(env={"HERALD_JWT_JWKS": srv.url})
    assert srv.gets >= 1, "ready before the key set was fetched"
    user = new_user()
    assert_accepted(h, k1.user_token(user, kid="k1"))
    gets = srv.gets
    # The provider rotates in k2: the first token naming it makes Herald fetch again, and the
    # upgrade is answered after that fetch, so even that first token passes.
    srv.doc = herald_jwt.jwks(("k1", k1), ("k2", k2))
    assert_accepted(h, k2.user_token(user, kid="k2"))
    assert srv.gets == gets + 1, "one fetch for the unknown kid, got %d" % (srv.gets - gets)
    # Unknown kids again within 30 s: no new fetch, and the token is refused.
    assert_refused(h, k1.user_token(user, kid="k3"))
    assert_refused(h, k1.user_token(user, kid="k4"))
    time.sleep(0.5)
    assert srv.gets == gets + 1, "unknown kids fetched more than once per 30 s"
    assert_accepted(h, k1.user_token(user, kid="k1"))


def test_a_jwks_url_that_never_answered_keeps_readyz_503_and_a_failure_later_keeps_the_keys(
        launch, jwks_server, new_user):
    k1, k2 = herald_jwt.KeyPair("rsa"), herald_jwt.KeyPair("rsa")
    srv = jwks_server(herald_jwt.jwks(("k1", k1)))
    srv.status = 500
    h = launch(env={"HERALD_JWT_JWKS": srv.url}, wait=False)
    deadline = time.monotonic() + 3
    while srv.gets == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.gets >= 1
    # Once the store is up, the key set is what keeps Herald unready.
    deadline = time.monotonic() + 5
    while True:
        r = h.internal("GET", "/readyz", key=False)
        assert_error(r, 503, "unavailable")
        if "jwks" in r.json["error"]["message"].lower() or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "jwks" in r.json["error"]["message"].lower(), r.json
    srv.status = 200
    h.wait_ready(timeout=20)
    user = new_user()
    token = k1.user_token(user, kid="k1")
    assert_accepted(h, token)
    # The provider fails now; an unknown kid makes Herald try, and the last good set stays.
    srv.status = 500
    gets = srv.gets
    assert_refused(h, k2.user_token(user, kid="k2"))
    deadline = time.monotonic() + 5
    while srv.gets == gets and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.gets > gets
    time.sleep(0.3)
    assert_accepted(h, token)
    assert h.internal("GET", "/readyz", key=False).status == 200


# ---- issuer and audience --------------------------------------------------------------------
def test_issuer_and_audience_are_enforced_as_exact_strings(launch, new_user):
    iss = "https://id.example.com/realms/shop"
    h = launch(env={"HERALD_JWT_ISSUER": iss, "HERALD_JWT_AUDIENCE": "herald"})
    user = new_user()
    ok = [{"iss": iss, "aud": "herald"}, {"iss": iss, "aud": ["account", "herald"]}]
    bad = [{"aud": "herald"}, {"iss": iss}, {"iss": iss + "/", "aud": "herald"},
           {"iss": iss, "aud": "Herald"}, {"iss": iss, "aud": ["account"]},
           {"iss": iss, "aud": "herald-x"}, {"iss": "https://evil.example.com/realms/shop", "aud": "herald"},
           {"iss": iss, "aud": 5}]
    for extra in ok:
        assert_accepted(h, h.token(user, **extra))
    for extra in bad:
        assert_refused(h, h.token(user, **extra))
        assert_error(h.public("GET", "/v1/inbox", token=h.token(user, **extra)), 401, "unauthenticated")


# ---- strict numeric claims ------------------------------------------------------------------
NOW = int(time.time())
NUMERIC = [
    ("nbf", 1e300, False), ("nbf", str(NOW + 600), False), ("nbf", str(NOW - 600), False),
    ("nbf", -1, False), ("nbf", 1.5, False), ("nbf", 2 ** 53, False), ("nbf", 5.0, True), ("nbf", 0, True),
    ("iat", 1e300, False), ("iat", "123", False), ("iat", -1, False), ("iat", 1.5, False),
    ("iat", 2 ** 53, False), ("iat", 5.0, True), ("iat", True, False), ("iat", None, False),
    ("exp", 1e300, False), ("exp", str(NOW + 3600), False), ("exp", -1, False), ("exp", NOW + 3600.5, False),
    ("exp", 2 ** 53, False), ("exp", float(NOW + 3600), True), ("exp", [NOW + 3600], False),
]


@pytest.mark.parametrize("claim,value,good", NUMERIC, ids=["%s=%r" % (c, v) for c, v, _ in NUMERIC])
def test_numeric_claims_must_be_integers_within_0_to_2_53(shared_herald, claim, value, good):
    claims = {"sub": "4243", "exp": int(time.time()) + 3600}
    claims[claim] = value
    token = herald_jwt.mint(JWT_SECRET, claims)
    if good:
        assert_accepted(shared_herald, token)
    else:
        assert_refused(shared_herald, token)


# ---- revocation -------------------------------------------------------------------------------
def test_revoking_a_user_closes_their_sockets_with_4003_and_not_another_users(herald, new_user):
    alice, bob = new_user(), new_user()
    a1, a2 = herald.ws(alice), herald.ws(alice)
    b = herald.ws(bob)
    herald.wait_presence(alice, 2)
    r = herald.internal("DELETE", "/v1/users/%d/connections" % alice)
    assert r.status == 200, r
    assert r.json == {"closed": 2}
    assert a1.close_frame(2.0) == (4003, "revoked")
    assert a2.close_frame(2.0) == (4003, "revoked")
    still_open(b)
    herald.wait_presence(alice, 0)
    assert herald.presence(bob)["connections"] == 1
    # Nobody left to close; the user may connect again (revocation is not a ban).
    assert herald.internal("DELETE", "/v1/users/%d/connections" % alice).json == {"closed": 0}
    herald.ws(alice).close()


def test_the_revoke_route_checks_its_key_id_and_method(shared_herald):
    h = shared_herald
    assert_error(h.internal("DELETE", "/v1/users/5/connections", key=False), 401, "unauthenticated")
    for bad in ("0", "-1", "abc", str(2 ** 53), "1.5"):
        assert_error(h.internal("DELETE", "/v1/users/%s/connections" % bad), 400, "invalid_argument",
                     "user_id")
    assert_error(h.internal("GET", "/v1/users/5/connections"), 405, "method_not_allowed")
    assert_error(h.internal("POST", "/v1/users/5/connections"), 405, "method_not_allowed")


# ---- expiry and refresh on open connections ---------------------------------------------------
# These need the WebSocket session's token lifecycle (timers, refresh frames); they pass once
# that part of the session is in.
WINDOW = 2


@pytest.fixture
def short_window(launch):
    return launch(env={"HERALD_TOKEN_REFRESH_WINDOW_S": str(WINDOW)})


def test_a_3_second_token_is_closed_with_4001_within_2_s_after_exp(short_window, new_user):
    token = short_window.token(new_user(), ttl=3)
    exp = json.loads(herald_jwt.base64.urlsafe_b64decode(token.split(".")[1] + "==="))["exp"]
    c = short_window.ws(token=token)
    code, reason = c.close_frame(8.0)
    closed_at = time.time()
    assert (code, reason) == (4001, "token expired")
    assert exp - 0.5 <= closed_at <= exp + 2.0, "closed at exp%+.2fs" % (closed_at - exp)


def test_token_expiring_comes_no_earlier_than_exp_minus_the_window(short_window, new_user):
    c = short_window.ws(token=short_window.token(new_user(), ttl=5))
    frame = c.wait_for(lambda f: f.get("type") == "token_expiring", 5.0, "token_expiring")
    got_at = time.time()
    assert isinstance(frame["exp"], int)
    assert got_at >= frame["exp"] - WINDOW - 0.2, "token_expiring %.2fs before exp" % (frame["exp"] - got_at)
    assert got_at <= frame["exp"]


def test_a_token_younger_than_the_window_gets_token_expiring_at_once(short_window, new_user):
    c = short_window.ws(token=short_window.token(new_user(), ttl=2))
    c.wait_for(lambda f: f.get("type") == "token_expiring", 1.0, "token_expiring at once")


def test_a_refresh_outlives_the_first_token(short_window, new_user):
    user = new_user()
    c = short_window.ws(token=short_window.token(user, ttl=3))
    c.wait_for(lambda f: f.get("type") == "token_expiring", 3.0, "token_expiring")
    fresh = short_window.token(user, ttl=60)
    c.send_json({"type": "refresh", "token": fresh})
    refreshed = c.wait_for(lambda f: f.get("type") == "refreshed", 3.0, "refreshed")
    assert refreshed["exp"] >= int(time.time()) + 55
    time.sleep(3.5)  # past the first token's exp and the 2 s grace
    still_open(c)
    n = short_window.notify_ok(user_id=user, title="after the refresh")
    c.wait_for(lambda f: f.get("type") == "notification" and f["notification"]["id"] == n["id"], 3.0)


def test_a_refresh_that_changes_groups_changes_pushes_and_sends_count_after_refreshed(herald, new_user):
    user = new_user()
    herald.notify_ok(audience="org/2", title="for org 2 before")
    c = herald.ws(token=herald.token(user, groups=["org/1"]))
    assert c.initial_count == 0
    c.send_json({"type": "refresh", "token": herald.token(user, groups=["org/2"])})
    first = c.wait_for(lambda f: f.get("type") in ("refreshed", "count"), 3.0, "refreshed")
    assert first["type"] == "refreshed", "count came before refreshed: %r" % first
    c.wait_count(1, 3.0)
    n2 = herald.notify_ok(audience="org/2", title="for org 2 now")
    c.wait_for(lambda f: f.get("type") == "notification" and f["notification"]["id"] == n2["id"], 3.0)
    herald.notify_ok(audience="org/1", title="for org 1: not any more")
    c.assert_silent(0.8)


def test_a_refresh_for_another_user_gets_forbidden_then_4003(herald, new_user):
    user, other = new_user(), new_user()
    c = herald.ws(user)
    c.send_json({"type": "refresh", "token": herald.token(other)})
    err = c.wait_for(lambda f: f.get("type") == "error", 3.0, "error frame")
    assert err["code"] == "forbidden"
    assert c.close_frame(3.0)[0] == 4003


def test_a_refused_refresh_gets_unauthenticated_and_the_connection_keeps_working(herald, new_user):
    user = new_user()
    c = herald.ws(user)
    expired = herald_jwt.mint(JWT_SECRET, {"sub": str(user), "exp": int(time.time()) - 10})
    for bad in (expired, "garbage", herald_jwt.mint("another-secret-entirely-xxxxxxxx", {"sub": str(user),
                                                                                      "exp": int(time.time()) + 60})):
        c.send_json({"type": "refresh", "token": bad})
        err = c.wait_for(lambda f: f.get("type") == "error", 3.0, "error frame")
        assert err["code"] == "unauthenticated"
    still_open(c)
    n = herald.notify_ok(user_id=user, title="still here")
    c.wait_for(lambda f: f.get("type") == "notification" and f["notification"]["id"] == n["id"], 3.0)


# ---- settings ---------------------------------------------------------------------------------
def refused_start(herald_bin, tmp_path, env, drop=()):
    import subprocess
    settings = {
        "HERALD_PUBLIC_ADDR": "127.0.0.1:%d" % herald_daemon.free_port(),
        "HERALD_INTERNAL_ADDR": "127.0.0.1:%d" % herald_daemon.free_port(),
        "HERALD_STORE": "sqlite:" + os.path.join(str(tmp_path), "cfg.db"),
        "HERALD_JWT_SECRET": JWT_SECRET,
        "HERALD_API_KEY": API_KEY,
    }
    settings.update(env)
    for k in drop:
        settings.pop(k)
    try:
        return subprocess.run([herald_bin], cwd=str(tmp_path), env=herald_daemon.clean_env(settings),
                              capture_output=True, timeout=10)
    except subprocess.TimeoutExpired:
        raise AssertionError("herald started instead of refusing %r" % env)


@pytest.mark.parametrize("key,content", [
    ("HERALD_JWT_PUBLIC_KEY", "not a pem"),
    ("HERALD_JWT_PUBLIC_KEY", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"),
    ("HERALD_JWT_JWKS", "{not json"),
    ("HERALD_JWT_JWKS", '{"keys": "none"}'),
    ("HERALD_JWT_JWKS", '{"keys": []}'),
])
def test_a_key_file_that_does_not_parse_stops_the_start_naming_the_setting(herald_bin, tmp_path, key, content):
    r = refused_start(herald_bin, tmp_path, {key: write(tmp_path, "k", content)})
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2 and key.lower() in err.lower(), (r.returncode, err[-500:])


@pytest.mark.parametrize("key,value", [
    ("HERALD_JWT_JWKS", "ftp://id.example.com/certs"),
    ("HERALD_JWT_JWKS", "https:///certs"),
    ("HERALD_JWT_JWKS", "/no/such/jwks.json"),
    ("HERALD_JWT_PUBLIC_KEY", "/no/such/key.pem"),
    ("HERALD_JWT_ISSUER", ""),
    ("HERALD_JWT_AUDIENCE", ""),
    ("HERALD_TOKEN_REFRESH_WINDOW_S", "0"),
    ("HERALD_TOKEN_REFRESH_WINDOW_S", "abc"),
    ("HERALD_TOKEN_REFRESH_WINDOW_S", "-5"),
])
def test_a_bad_key_setting_stops_the_start_naming_it(herald_bin, tmp_path, key, value):
    r = refused_start(herald_bin, tmp_path, {key: value})
    err = r.stderr.decode("utf-8", "replace")
    assert r.returncode == 2 and key.lower() in err.lower(), (r.returncode, err[-500:])


def test_with_no_key_at_all_herald_refuses_to_start(herald_bin, tmp_path):
    r = refused_start(herald_bin, tmp_path, {}, drop=("HERALD_JWT_SECRET",))
    assert r.returncode == 2 and b"HERALD_JWT_SECRET" in r.stderr


def test_a_jwks_fetch_that_hangs_does_not_hold_the_exit_after_sigterm(launch):
    # A "provider" that accepts the connection and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        url = "http://127.0.0.1:%d/certs" % silent.getsockname()[1]
        h = launch(env={"HERALD_JWT_JWKS": url}, wait=False)
        h.wait_status("/readyz", 503, timeout=5)
        time.sleep(0.5)  # the fetch is waiting on the silent socket now
        started = time.monotonic()
        assert h.stop(timeout=10) == 0
        assert time.monotonic() - started < 3.0, "exit took %.1fs" % (time.monotonic() - started)
    finally:
        silent.close()
