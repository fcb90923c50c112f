// Token claims and headers: the input is a JWT header and payload (JSON, split at the first
// newline; the header defaults to HS256), signed here with the secret so that the claim checks
// behind the signature are reached. Checks: an accepted token is HS256 (the only configured
// key), for a user id within 1..2^53-1, and not expired.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "gateway/token_verifier.hpp"
#include "tests/gateway/jwt_signing.hpp"

namespace {

using herald::test::base64url;
using herald::test::hmac;

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
  const std::string signing = base64url(header) + "." + base64url(payload);
  const std::string token = signing + "." + base64url(hmac(EVP_sha256(), secret, signing));
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
