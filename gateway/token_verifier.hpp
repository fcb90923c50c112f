// Checks browser tokens. Keys: the HS256 secret, a PEM public key (RS256 or ES256) and a JWKS
// key set (keys chosen by `kid`), any of them, several together. The header's `alg` selects
// which keys may verify a token, so a key is only ever used with its own algorithm; `none` and
// every other algorithm are refused. Claims: `sub` (a user id), `exp` required, `nbf` and `iat`
// honoured, all three integers within 0..2^53-1 (5.0 counts as 5); `iss`/`aud` when configured.
// Order of the checks: size and three parts; the header (alg, crit, kid), read untrusted; the
// signature; then the claims: exp, nbf, iat, iss, aud, sub, groups. The first failure is the
// refusal's message.
// Thread-safe: verify() may be called from any thread at once and never blocks on I/O (a kid
// the JWKS set lacks asks its thread for a fetch, at most once per 30 s, and refuses the token).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/jwks_keys.hpp"
#include "proto/audience.hpp"

namespace herald::gateway {

class jwks_source;

struct identity {
  std::uint64_t user_id = 0;
  proto::group_set groups;
  std::int64_t exp = 0;  // the token's `exp`, epoch seconds: the connection lives until then
};

class token_verifier {
 public:
  struct options {
    std::string secret;                    // HS256; empty: HS256 tokens are refused
    std::optional<verify_key> public_key;  // RS256 or ES256, from HERALD_JWT_PUBLIC_KEY
    std::shared_ptr<jwks_source> jwks;     // HERALD_JWT_JWKS; null when unset
    std::string issuer;                    // required `iss` when not empty
    std::string audience;                  // required in `aud` when not empty
  };

  explicit token_verifier(std::string secret);
  explicit token_verifier(options opts);

  // Why a token was refused, beyond the message: a `kid` the JWKS set lacks (a fetch has been
  // asked for), and which key set the check saw.
  struct refusal {
    bool unknown_kid = false;
    std::uint64_t key_generation = 0;
  };

  // The identity, or nullopt with *why set (never includes the token itself) and, when given,
  // *detail filled.
  std::optional<identity> verify(std::string_view token, std::int64_t now_s, std::string* why,
                                 refusal* detail = nullptr) const;
  // After a refusal with detail.unknown_kid: runs `retry` once a key fetch later than the one
  // the check saw has finished (at once on this thread if one already has, else on the key
  // set's own thread: post it back to your executor) and returns true; false when the 30 s
  // limit holds the fetch back (the refusal stands). Verify again in `retry`, without waiting
  // a second time.
  bool after_key_fetch(const refusal& detail, std::function<void()> retry) const;
  // Mints an HS256 token with the secret (dev mode's /v1/dev/token, tests); "" without one.
  std::string mint(std::uint64_t user_id, const std::vector<std::string>& groups,
                   std::int64_t now_s, std::int64_t ttl_s) const;

  const std::shared_ptr<jwks_source>& jwks() const { return opts_.jwks; }

 private:
  options opts_;
};

}  // namespace herald::gateway
