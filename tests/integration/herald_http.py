"""A small HTTP client and the contract's error-shape assertion."""
import http.client
import json


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError("body is not JSON (%s): %r" % (e, self.body[:300]))

    def __repr__(self):
        return "Resp(%d, %r)" % (self.status, self.body[:300])


def request(host, port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection. `body` may be bytes, str, or a JSON-able object."""
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        hdrs.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=body, headers=hdrs)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) before reading a large body; read what it said.
            if conn.sock is None:
                raise
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def assert_error(resp, status, code, field=None):
    """Asserts the contract's error answer; `field` may be a string or a set of accepted names."""
    assert resp.status == status, "expected %d %s, got %r" % (status, code, resp)
    body = resp.json
    assert isinstance(body, dict) and isinstance(body.get("error"), dict), \
        "error body must be {\"error\":{...}}, got %r" % (body,)
    err = body["error"]
    assert "json" in resp.headers.get("content-type", ""), \
        "error answer without a JSON content type: %r" % resp.headers
    assert err.get("code") == code, "expected code %s, got %r" % (code, body)
    assert isinstance(err.get("message"), str) and err["message"], "message missing: %r" % (body,)
    if field is not None:
        accepted = {field} if isinstance(field, str) else set(field)
        assert err.get("field") in accepted, "expected field in %r, got %r" % (accepted, body)
    return err
