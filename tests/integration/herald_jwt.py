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


# ---- RS256 / ES256 with keys made in the test (python3-cryptography) ----------------------
class KeyPair:
    """A fresh signing key: kind "rsa" (RS256, 2048 bits) or "ec" (ES256, P-256)."""

    def __init__(self, kind="rsa"):
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        self.kind = kind
        if kind == "rsa":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
        elif kind == "ec":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
        else:
            raise ValueError(kind)

    def public_pem(self):
        from cryptography.hazmat.primitives import serialization
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def jwk(self, kid):
        pub = self.private.public_key().public_numbers()
        if self.kind == "rsa":
            def b(n):
                return b64url(n.to_bytes((n.bit_length() + 7) // 8, "big"))
            return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b(pub.n), "e": b(pub.e)}
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                "x": b64url(pub.x.to_bytes(32, "big")), "y": b64url(pub.y.to_bytes(32, "big"))}

    def sign(self, data):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
        if self.kind == "rsa":
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = utils.decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS: R || S

    def mint(self, claims, kid=None, header=None):
        head = header if header is not None else {"alg": self.alg, "typ": "JWT"}
        if kid is not None:
            head = dict(head, kid=kid)
        signing_input = b64url(json.dumps(head).encode()) + "." + b64url(json.dumps(claims).encode())
        return signing_input + "." + b64url(self.sign(signing_input.encode()))

    def user_token(self, sub, groups=None, ttl=3600, kid=None, **extra):
        now = int(time.time())
        claims = {"sub": str(sub), "exp": now + ttl, "iat": now}
        if groups is not None:
            claims["groups"] = groups
        claims.update(extra)
        return self.mint(claims, kid=kid)


def jwks(*pairs):
    """A JWKS document from (kid, KeyPair) pairs."""
    return {"keys": [k.jwk(kid) for kid, k in pairs]}
