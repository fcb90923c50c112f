// The keys a token may be verified with, and their parsers: a PEM public key (RSA -> RS256,
// EC P-256 -> ES256) and a JWKS document. Each key is bound to one algorithm, so that a token's
// `alg` picks the key and never the other way round. Pure functions; thread-safe.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald::gateway {

enum class jwt_alg { hs256, rs256, es256 };

const char* alg_name(jwt_alg a);

struct verify_key {
  jwt_alg alg = jwt_alg::hs256;
  std::string kid;       // empty: no key id (the secret, a PEM file, a JWK without "kid")
  std::string material;  // HS256: the secret's bytes; RS256/ES256: the public key as PEM text
};

using key_list = std::vector<verify_key>;

// A PEM public key ("PUBLIC KEY", "RSA PUBLIC KEY") or certificate. RSA keys must have at
// least 2048 bits; EC keys must be on P-256. Throws std::invalid_argument saying why.
verify_key parse_public_key_pem(std::string_view pem);

// A JWKS document {"keys":[...]}: RSA keys (n, e) become RS256, EC P-256 keys (x, y) ES256.
// Keys for other uses or algorithms, or malformed ones, are skipped with a line in *skipped.
// Throws std::invalid_argument when the text is not JSON, has no "keys" array, or is over
// 1 MiB; an empty result is not an error here.
key_list parse_jwks(std::string_view json, std::vector<std::string>* skipped);

// Strict base64url (RFC 7515: no padding, though trailing '=' are tolerated); false when a
// character is outside the alphabet or the length is impossible.
bool base64url_decode(std::string_view in, std::string* out);

}  // namespace herald::gateway
