"""Client frames, errors, limits and keep-alive on the WebSocket (issue 2)."""

import pytest

ERROR_CASES = [
    ("not json", "invalid_frame"),
    ("[1,2,3]", "invalid_frame"),
    ('"ping"', "invalid_frame"),
    ('{"type":5}', "invalid_frame"),
    ('{"no_type":"ping"}', "invalid_frame"),
    ('{"type":"dance"}', "unknown_type"),
    ('{"type":"read"}', "invalid_argument"),
    ('{"type":"read","id":"7"}', "invalid_argument"),
    ('{"type":"read","id":-3}', "invalid_argument"),
    ('{"type":"read","id":1.5}', "invalid_argument"),
    ('{"type":"delete"}', "invalid_argument"),
    ('{"type":"sync"}', "invalid_argument"),
    ('{"type":"sync","since":-1}', "invalid_argument"),
    ('{"type":"sync","since":"x"}', "invalid_argument"),
    ('{"type":"read","id":987654321}', "not_found"),
    ('{"type":"delete","id":987654321}', "not_found"),
]


@pytest.mark.parametrize("text,code", ERROR_CASES)
def test_a_refused_client_frame_gets_an_error_frame_and_the_connection_stays_open(
        shared_herald, new_user, text, code):
    c = shared_herald.ws(new_user())
    c.send_text(text)
    frame = c.expect("error")
    assert frame["code"] == code, frame
    assert isinstance(frame["message"], str) and frame["message"]
    c.send_json({"type": "ping"})
    assert c.expect("pong") == {"type": "pong"}
    c.close()


def test_all_errors_in_a_row_leave_the_connection_usable(shared_herald, new_user):
    uid = new_user()
    c = shared_herald.ws(uid)
    for text, code in ERROR_CASES:
        c.send_text(text)
        assert c.expect("error")["code"] == code
    shared_herald.wait_presence(uid, 1)
    shared_herald.notify_ok(user_id=uid, title="still here", persist=False)
    assert c.expect("desktop")["title"] == "still here"


def test_ping_gets_pong(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    for _ in range(3):
        c.send_json({"type": "ping"})
        assert c.expect("pong") == {"type": "pong"}


def test_a_frame_over_4096_bytes_closes_with_1009(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    c.send_text('{"type":"ping","pad":"' + "x" * 5000 + '"}')
    assert c.expect_close(5) == 1009


def test_a_frame_of_exactly_4096_bytes_is_not_closed(shared_herald, new_user):
    c = shared_herald.ws(new_user())
    head = '{"type":"ping","pad":"'
    text = head + "x" * (4096 - len(head) - 2) + '"}'
    assert len(text) == 4096
    c.send_text(text)
    first = c.recv_json(3)  # a pong, or an error frame if extra fields are refused
    assert first["type"] in ("pong", "error")
    c.send_json({"type": "ping"})
    assert c.expect("pong") == {"type": "pong"}


def test_a_configured_frame_limit_is_enforced(launch, new_user):
    d = launch(env={"HERALD_MAX_FRAME_BYTES": "100"})
    c = d.ws(new_user())
    c.send_text('{"type":"ping","pad":"' + "x" * 120 + '"}')
    assert c.expect_close(5) == 1009


def test_a_client_that_stops_answering_pings_is_closed(launch, new_user):
    d = launch(env={"HERALD_PING_INTERVAL_S": "1", "HERALD_PONG_TIMEOUT_S": "1"})
    uid, other = new_user(), new_user()
    mute = d.ws(uid)
    mute.auto_pong = False
    alive = d.ws(other)
    # The answering client reads (and so answers pings) on its own thread meanwhile.
    reader, alive_errors = alive.assert_silent_in_background(6)
    code = mute.expect_close(8)
    assert code in (None, 1000, 1001, 1006, 1008, 1011), code
    assert mute.pings_seen >= 1, "the server never sent a WebSocket ping"
    d.wait_presence(uid, 0)
    reader.join(10)
    assert not alive_errors, "a client answering pings was disturbed: %r" % alive_errors
    assert alive.pings_seen >= 2
    d.wait_presence(other, 1)
    alive.send_json({"type": "ping"})
    assert alive.expect("pong") == {"type": "pong"}


def test_connections_past_the_per_user_cap_close_the_oldest_with_1008(launch, new_user):
    d = launch(env={"HERALD_MAX_CONNECTIONS_PER_USER": "2"})
    uid = new_user()
    first, second = d.ws(uid), d.ws(uid)
    third = d.ws(uid)
    assert first.expect_close(5) == 1008
    d.wait_presence(uid, 2)
    d.notify_ok(user_id=uid, title="x", persist=False)
    second.expect("desktop")
    third.expect("desktop")
