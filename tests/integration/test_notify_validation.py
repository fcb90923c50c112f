"""POST /v1/notify input rules (API.md "Details that bind"): every refusal is 400 naming the
field and stores nothing (issue 2 and 3)."""
import json

import pytest

from herald_http import assert_error

TARGETS = {"user_id", "user_ids", "audience"}
UID = 777001


def body(**over):
    b = {"user_id": UID, "title": "t"}
    for k, v in over.items():
        if v is _DROP:
            b.pop(k, None)
        else:
            b[k] = v
    return b


_DROP = object()

CASES = [
    # targets
    ("no target", body(user_id=_DROP), TARGETS),
    ("two targets", body(audience="org/1"), TARGETS),
    ("user_id and user_ids", body(user_ids=[1, 2]), TARGETS),
    ("user_id zero", body(user_id=0), "user_id"),
    ("user_id -2", body(user_id=-2), "user_id"),
    ("user_id 2^53", body(user_id=2 ** 53), "user_id"),
    ("user_id string", body(user_id="42"), "user_id"),
    ("user_id fraction", body(user_id=1.5), "user_id"),
    ("user_id null", body(user_id=None), TARGETS | {"user_id"}),
    ("user_ids empty", body(user_id=_DROP, user_ids=[]), "user_ids"),
    ("user_ids 1001", body(user_id=_DROP, user_ids=list(range(1, 1002))), "user_ids"),
    ("user_ids duplicate", body(user_id=_DROP, user_ids=[5, 6, 5]), "user_ids"),
    ("user_ids zero", body(user_id=_DROP, user_ids=[5, 0]), "user_ids"),
    ("user_ids negative", body(user_id=_DROP, user_ids=[-1]), "user_ids"),
    ("user_ids not array", body(user_id=_DROP, user_ids=5), "user_ids"),
    ("user_ids strings", body(user_id=_DROP, user_ids=["5"]), "user_ids"),
    ("user_ids over 2^53", body(user_id=_DROP, user_ids=[2 ** 53]), "user_ids"),
    ("audience empty", body(user_id=_DROP, audience=""), "audience"),
    ("audience odd", body(user_id=_DROP, audience="org"), "audience"),
    ("audience odd 3", body(user_id=_DROP, audience="org/1/role"), "audience"),
    ("audience bad kind", body(user_id=_DROP, audience="Org/1"), "audience"),
    ("audience kind digit", body(user_id=_DROP, audience="1org/1"), "audience"),
    ("audience kind 33", body(user_id=_DROP, audience="a" * 33 + "/1"), "audience"),
    ("audience bad id", body(user_id=_DROP, audience="org/a.b"), "audience"),
    ("audience id 65", body(user_id=_DROP, audience="org/" + "x" * 65), "audience"),
    ("audience empty id", body(user_id=_DROP, audience="org//role/3"), "audience"),
    ("audience 9 pairs", body(user_id=_DROP, audience="/".join("k%d/1" % i for i in range(9))),
     "audience"),
    ("audience repeated pair", body(user_id=_DROP, audience="org/1/role/3/org/1"), "audience"),
    ("audience not string", body(user_id=_DROP, audience=["org/1"]), "audience"),
    ("audience trailing slash", body(user_id=_DROP, audience="org/1/"), "audience"),
    # title
    ("title missing", body(title=_DROP), "title"),
    ("title empty", body(title=""), "title"),
    ("title 201 code points", body(title="é" * 201), "title"),
    ("title 201 ascii", body(title="x" * 201), "title"),
    ("title not string", body(title=5), "title"),
    ("title null", body(title=None), "title"),
    # content, sender, data
    ("content 16385 bytes", body(content="x" * 16385), "content"),
    ("content multibyte over", body(content="é" * 8193), "content"),
    ("content not string", body(content=["x"]), "content"),
    ("sender not string", body(sender=7), "sender"),
    ("data array", body(data=[1, 2]), "data"),
    ("data string", body(data="{}"), "data"),
    ("data number", body(data=3), "data"),
    ("data 4097 compact", body(data={"k": "x" * 4089}), "data"),
    # flags, retention
    ("persist string", body(persist="yes"), "persist"),
    ("persist number", body(persist=1), "persist"),
    ("desktop string", body(desktop="true"), "desktop"),
    ("retention unknown", body(retention="forever"), "retention"),
    ("retention not string", body(retention=1), "retention"),
    ("ttl_s zero", body(ttl_s=0), "ttl_s"),
    ("ttl_s negative", body(ttl_s=-5), "ttl_s"),
    ("ttl_s fraction", body(ttl_s=1.5), "ttl_s"),
    ("ttl_s string", body(ttl_s="60"), "ttl_s"),
    ("important with ttl_s", body(retention="important", ttl_s=60), {"ttl_s", "retention"}),
    ("idempotency_key not string", body(idempotency_key=5), "idempotency_key"),
]


@pytest.mark.parametrize("name,payload,field", CASES, ids=[c[0] for c in CASES])
def test_a_bad_notify_field_is_400_naming_it(shared_herald, name, payload, field):
    r = shared_herald.internal("POST", "/v1/notify", payload)
    assert_error(r, 400, "invalid_argument", field)


@pytest.mark.parametrize("raw", ["not json", "[]", '"text"', "42", "null", "", '{"user_id":1,'])
def test_a_body_that_is_not_a_json_object_is_400_field_body(shared_herald, raw):
    r = shared_herald.internal("POST", "/v1/notify", raw,
                               headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_argument", "body")


def test_refused_requests_store_nothing(launch, new_user):
    d = launch()
    uid = new_user()
    for name, payload, _ in CASES:
        if "user_id" in payload and payload["user_id"] == UID:
            payload = dict(payload, user_id=uid)
        d.internal("POST", "/v1/notify", payload)
    token = d.token(uid)
    assert d.inbox(token)["notifications"] == []
    assert d.unread(token) == 0
    assert d.stats()["notifications_stored"] == 0


BOUNDARY_OK = [
    ("title 200 code points of 2 bytes", body(title="é" * 200)),
    ("title 200 code points of 4 bytes", body(title="\U0001F600" * 200)),
    ("content 16384 bytes", body(content="x" * 16384)),
    ("content 16384 bytes multibyte", body(content="é" * 8192)),
    ("data 4096 compact", body(data={"k": "x" * 4088})),
    ("user_id 2^53-1", body(user_id=2 ** 53 - 1)),
    ("user_ids 1000", body(user_id=_DROP, user_ids=list(range(1, 1001)), persist=False)),
    ("audience 8 pairs", body(user_id=_DROP, audience="/".join("k%d/1" % i for i in range(8)))),
    ("audience long kind and id", body(user_id=_DROP, audience="a" + "b" * 31 + "/" + "Z-_9" * 16)),
    ("important", body(retention="important")),
    ("ttl_s", body(ttl_s=60)),
    ("sender and data", body(sender="billing", data={"a": {"b": [1, None, True]}})),
    ("persist false desktop false", body(persist=False, desktop=False)),
]


@pytest.mark.parametrize("name,payload", BOUNDARY_OK, ids=[c[0] for c in BOUNDARY_OK])
def test_values_at_the_limit_are_accepted(shared_herald, name, payload):
    r = shared_herald.internal("POST", "/v1/notify", payload)
    assert r.status == 200, r


def test_data_size_is_measured_as_compact_json(shared_herald):
    # 4096 bytes compact, far more with the spacing the client happened to send.
    data = {"k": "x" * 4088}
    raw = '{"user_id": %d, "title": "t", "data": %s}' % (UID, json.dumps(data, indent=8))
    raw = raw.replace(":", " :   ")
    r = shared_herald.internal("POST", "/v1/notify", raw,
                               headers={"Content-Type": "application/json"})
    assert r.status == 200, r


@pytest.mark.parametrize("size", [65537, 1_000_000, 9_000_000])
def test_a_body_over_64_kib_is_413(shared_herald, size):
    payload = body(content="x" * 16000, sender="s")
    raw = json.dumps(payload)
    raw = raw[:-1] + ", \"zzz\": \"" + "p" * (size - len(raw) - 10) + "\"}"
    assert len(raw) >= size - 5 and len(raw) > 65536
    r = shared_herald.internal("POST", "/v1/notify", raw,
                               headers={"Content-Type": "application/json"})
    assert_error(r, 413, "too_large")


def test_a_configured_body_limit_is_enforced(launch):
    d = launch(env={"HERALD_MAX_BODY_BYTES": "2000"})
    r = d.internal("POST", "/v1/notify", body(content="x" * 2500))
    assert_error(r, 413, "too_large")
    assert d.internal("POST", "/v1/notify", body(content="x" * 1500)).status == 200


@pytest.mark.parametrize("key", [False, "Bearer wrong-key", "Basic " + "abc", "itest-api-key-3c5e7a9b1d"])
def test_notify_without_a_valid_api_key_is_401(shared_herald, key):
    r = shared_herald.internal("POST", "/v1/notify", body(), key=key)
    assert_error(r, 401, "unauthenticated")


def test_a_bad_body_with_a_wrong_key_is_401_not_400(shared_herald):
    r = shared_herald.internal("POST", "/v1/notify", body(title=""), key="Bearer nope")
    assert_error(r, 401, "unauthenticated")
