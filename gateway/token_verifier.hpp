// Checks browser tokens: HS256 JWTs signed with the configured secret. Thread-safe (no state
// beyond the secret).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proto/audience.hpp"

namespace herald::gateway {

struct identity {
  std::uint64_t user_id = 0;
  proto::group_set groups;
  std::int64_t exp = 0;  // the token's expiry, epoch seconds
};

class token_verifier {
 public:
  explicit token_verifier(std::string secret) : secret_(std::move(secret)) {}
  // The identity, or nullopt with *why set (never includes the token itself).
  std::optional<identity> verify(std::string_view token, std::int64_t now_s, std::string* why) const;
  // Mints a token (dev mode's /v1/dev/token, tests).
  std::string mint(std::uint64_t user_id, const std::vector<std::string>& groups,
                   std::int64_t now_s, std::int64_t ttl_s) const;

 private:
  std::string secret_;
};

}  // namespace herald::gateway
