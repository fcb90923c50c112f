#include "bench/token_minter.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>

namespace herald::bench {

std::string base64url(const std::string& bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    const unsigned v = byte(i) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
  } else if (i + 2 == bytes.size()) {
    const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
  }
  return out;
}

token_minter::token_minter(std::string secret, std::vector<std::string> groups)
    : secret_(std::move(secret)), groups_(std::move(groups)) {}

std::string token_minter::mint(std::uint64_t user_id, std::int64_t ttl_s) const {
  return mint_with(user_id, groups_, ttl_s);
}

std::string token_minter::mint_with(std::uint64_t user_id, const std::vector<std::string>& groups,
                                    std::int64_t ttl_s) const {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  nlohmann::json claims = {{"sub", std::to_string(user_id)}, {"iat", now}, {"exp", now + ttl_s}};
  if (!groups.empty()) claims["groups"] = groups;
  const std::string input =
      base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(claims.dump());

  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  if (!HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len))
    throw std::runtime_error("HMAC-SHA256 failed");
  return input + "." + base64url(std::string(reinterpret_cast<char*>(mac), mac_len));
}

}  // namespace herald::bench
