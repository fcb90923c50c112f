// Mints HS256 user tokens the way Herald expects them (sub, exp, iat, optional groups).
// Thread safety: const methods only; safe to share.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace herald::bench {

class token_minter {
 public:
  explicit token_minter(std::string secret, std::vector<std::string> groups = {});

  // A token for `user_id` valid for `ttl_s` seconds from now.
  std::string mint(std::uint64_t user_id, std::int64_t ttl_s = 7200) const;
  // The same with these groups instead of the minter's.
  std::string mint_with(std::uint64_t user_id, const std::vector<std::string>& groups,
                        std::int64_t ttl_s = 7200) const;

 private:
  std::string secret_;
  std::vector<std::string> groups_;
};

// base64url without padding, as JWT uses it.
std::string base64url(const std::string& bytes);

}  // namespace herald::bench
