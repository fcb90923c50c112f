// Token claims and headers: the input is a JWT header and payload (JSON, split at the first
// newline; the header defaults to HS256), signed here with the secret so that the claim checks
// behind the signature are reached. Checks: an accepted token is HS256 (the only configured
// key), for a user id within 1..2^53-1, and not expired.
#include <openssl/hmac.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gateway/token_verifier.hpp"

namespace {

std::string b64url(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                       (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += t[v & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += t[v >> 18], out += t[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63];
  }
  return out;
}

const std::string secret = "fuzz-secret-0123456789abcdef0123456789";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const herald::gateway::token_verifier verifier(secret);
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string_view header = R"({"alg":"HS256","typ":"JWT"})";
  std::string_view payload = in;
  if (auto nl = in.find('\n'); nl != std::string_view::npos) {
    header = in.substr(0, nl);
    payload = in.substr(nl + 1);
  }
  const std::string signing = b64url(header) + "." + b64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &mac_len);
  const std::string token =
      signing + "." + b64url(std::string_view(reinterpret_cast<const char*>(mac), mac_len));
  constexpr std::int64_t now = 1700000000;
  std::string why;
  auto who = verifier.verify(token, now, &why);
  if (!who) {
    if (why.empty()) __builtin_trap();  // every refusal says why
    return 0;
  }
  const auto h = nlohmann::json::parse(header, nullptr, false);
  if (!h.is_object() || !h.contains("alg") || h["alg"] != "HS256") __builtin_trap();
  if (who->user_id == 0 || who->user_id > (std::uint64_t{1} << 53) - 1) __builtin_trap();
  if (who->exp <= now) __builtin_trap();
  return 0;
}
