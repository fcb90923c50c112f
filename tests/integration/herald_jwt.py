"""Mints HS256 JWTs (good and deliberately bad) for Herald's integration tests."""
import base64
import hashlib
import hmac
import json
import time


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def mint(secret, claims, header=None, signature=None):
    """Signs `claims` with HS256; `header` and `signature` may be overridden to forge bad tokens."""
    head = header if header is not None else {"alg": "HS256", "typ": "JWT"}
    signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
    if signature is None:
        sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
        signature = b64url(sig)
    return signing_input + "." + signature


def user_token(secret, sub, groups=None, ttl=3600, **extra):
    claims = {"sub": str(sub) if isinstance(sub, int) else sub, "exp": int(time.time()) + ttl,
              "iat": int(time.time())}
    if groups is not None:
        claims["groups"] = groups
    claims.update(extra)
    return mint(secret, claims)


def bad_tokens(secret, user_id):
    """Tokens the contract says must be refused, by name."""
    now = int(time.time())
    good = {"sub": str(user_id), "exp": now + 3600}
    return {
        "alg_none": mint(secret, good, header={"alg": "none", "typ": "JWT"}, signature=""),
        "alg_none_signed": mint(secret, good, header={"alg": "none", "typ": "JWT"}),
        "bad_signature": mint("another-secret-entirely-xxxxxxxxxxxx", good),
        "tampered_payload": _tamper(mint(secret, good), secret),
        "expired": mint(secret, {"sub": str(user_id), "exp": now - 120}),
        "missing_exp": mint(secret, {"sub": str(user_id)}),
        "missing_sub": mint(secret, {"exp": now + 3600}),
        "sub_zero": mint(secret, {"sub": "0", "exp": now + 3600}),
        "sub_negative": mint(secret, {"sub": "-5", "exp": now + 3600}),
        "sub_negative_number": mint(secret, {"sub": -5, "exp": now + 3600}),
        "sub_not_digits": mint(secret, {"sub": "alice", "exp": now + 3600}),
        "sub_over_2_53": mint(secret, {"sub": str(2 ** 53), "exp": now + 3600}),
        "nbf_future": mint(secret, {"sub": str(user_id), "exp": now + 3600, "nbf": now + 600}),
        "garbage": "not.a.jwt",
        "empty": "",
    }


def _tamper(token, secret):
    head, _, sig = token.split(".")
    payload = b64url(json.dumps({"sub": "1", "exp": int(time.time()) + 3600}).encode())
    return head + "." + payload + "." + sig
