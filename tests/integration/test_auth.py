"""Tokens and Origin checks on the WebSocket upgrade and the inbox API (issue 2)."""
import time

import pytest

import herald_jwt
from herald_daemon import JWT_SECRET
from herald_http import assert_error

BAD = sorted(herald_jwt.bad_tokens(JWT_SECRET, 4242).keys())


def assert_refused_upgrade(hs, status=401, code="unauthenticated"):
    assert hs.status == status, "expected %d, got %d %r" % (status, hs.status, hs.body)
    assert hs.client is None
    assert "upgrade" not in hs.headers.get("connection", "").lower() or hs.status != 101
    body = hs.json
    assert body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


@pytest.mark.parametrize("name", BAD)
def test_a_bad_token_in_the_query_is_refused_with_401_and_no_upgrade(shared_herald, name):
    token = herald_jwt.bad_tokens(JWT_SECRET, 4242)[name]
    assert_refused_upgrade(shared_herald.upgrade("?token=" + token))


@pytest.mark.parametrize("name", [n for n in BAD if n != "empty"])
def test_a_bad_token_in_the_authorization_header_is_refused_with_401(shared_herald, name):
    token = herald_jwt.bad_tokens(JWT_SECRET, 4242)[name]
    hs = shared_herald.upgrade("", headers={"Authorization": "Bearer " + token})
    assert_refused_upgrade(hs)


@pytest.mark.parametrize("name", [n for n in BAD if n != "empty"])
def test_a_bad_token_is_refused_by_the_inbox_api(shared_herald, name):
    token = herald_jwt.bad_tokens(JWT_SECRET, 4242)[name]
    assert_error(shared_herald.public("GET", "/v1/inbox", token=token), 401, "unauthenticated")
    assert_error(shared_herald.public("GET", "/v1/inbox/unread_count", token=token), 401,
                 "unauthenticated")


def test_an_upgrade_without_any_token_is_refused(shared_herald):
    assert_refused_upgrade(shared_herald.upgrade(""))


def test_the_inbox_without_a_token_is_401(shared_herald):
    assert_error(shared_herald.public("GET", "/v1/inbox"), 401, "unauthenticated")
    assert_error(shared_herald.public("POST", "/v1/inbox/read_all"), 401, "unauthenticated")


def test_a_good_token_upgrades_by_query_and_by_header(shared_herald, new_user):
    uid = new_user()
    token = shared_herald.token(uid)
    hs = shared_herald.upgrade("?token=" + token)
    assert hs.status == 101
    assert hs.client.expect("count")["unread"] == 0
    hs.client.close()
    hs = shared_herald.upgrade("", headers={"Authorization": "Bearer " + token})
    assert hs.status == 101
    assert hs.client.expect("count")["unread"] == 0
    hs.client.close()


def test_sub_as_a_number_and_as_a_digit_string_name_the_same_user(shared_herald, new_user):
    uid = new_user()
    shared_herald.notify_ok(user_id=uid, title="for the numeric sub")
    now = int(time.time())
    as_number = herald_jwt.mint(JWT_SECRET, {"sub": uid, "exp": now + 600})
    as_string = herald_jwt.mint(JWT_SECRET, {"sub": str(uid), "exp": now + 600})
    for token in (as_number, as_string):
        box = shared_herald.inbox(token)
        assert [n["title"] for n in box["notifications"]] == ["for the numeric sub"]
        assert box["unread"] == 1


def test_a_token_whose_nbf_has_passed_is_accepted(shared_herald, new_user):
    now = int(time.time())
    token = herald_jwt.mint(JWT_SECRET, {"sub": str(new_user()), "exp": now + 600,
                                         "nbf": now - 10, "iat": now - 10})
    assert shared_herald.public("GET", "/v1/inbox/unread_count", token=token).status == 200


def test_the_largest_safe_user_id_is_accepted(shared_herald):
    uid = 2 ** 53 - 1
    token = shared_herald.token(uid)
    c = shared_herald.ws(token=token)
    r = shared_herald.notify_ok(user_id=uid, title="max id", persist=False)
    assert r["online"] == 1
    frame = c.expect("desktop")
    assert frame["title"] == "max id"
    c.close()


ORIGINS = "https://good.example,https://also.example:8443"


def test_a_disallowed_origin_is_refused_with_403(launch, new_user):
    d = launch(env={"HERALD_ALLOWED_ORIGINS": ORIGINS})
    token = d.token(new_user())
    hs = d.upgrade("?token=" + token, headers={"Origin": "https://evil.example"})
    assert_refused_upgrade(hs, 403, "forbidden")
    for origin in ("https://good.example", "https://also.example:8443"):
        hs = d.upgrade("?token=" + token, headers={"Origin": origin})
        assert hs.status == 101, (origin, hs.status, hs.body)
        hs.client.expect("count")
        hs.client.close()
    # Without Origin (a non-browser client) the allow-list does not apply.
    hs = d.upgrade("?token=" + token)
    assert hs.status == 101
    hs.client.close()


def test_any_origin_is_accepted_without_an_allow_list(shared_herald, new_user):
    hs = shared_herald.upgrade("?token=" + shared_herald.token(new_user()),
                               headers={"Origin": "https://anything.example"})
    assert hs.status == 101
    hs.client.close()
