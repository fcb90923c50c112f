#include "gateway/token_verifier.hpp"

#include <jwt.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "proto/notify_request.hpp"

namespace herald::gateway {
namespace {

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

std::optional<std::int64_t> number_claim(const nlohmann::json& claims, const char* name) {
  auto it = claims.find(name);
  if (it == claims.end()) return std::nullopt;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return std::nullopt;
}

}  // namespace

std::optional<identity> token_verifier::verify(std::string_view token, std::int64_t now_s,
                                               std::string* why) const {
  if (token.empty()) {
    *why = "missing token";
    return std::nullopt;
  }
  if (token.size() > 8192) {
    *why = "token too long";
    return std::nullopt;
  }
  // Only HS256 is accepted, whatever the header claims: read the header's alg first so that
  // "none" and others are refused before any claim is trusted.
  jwt_t* raw = nullptr;
  const std::string tok(token);
  if (jwt_decode(&raw, tok.c_str(), reinterpret_cast<const unsigned char*>(secret_.data()),
                 static_cast<int>(secret_.size())) != 0 || raw == nullptr) {
    *why = "invalid token signature or format";
    return std::nullopt;
  }
  jwt_ptr jwt(raw);
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) {
    *why = "token algorithm must be HS256";
    return std::nullopt;
  }
  char* grants = jwt_get_grants_json(jwt.get(), nullptr);
  if (!grants) {
    *why = "token has no claims";
    return std::nullopt;
  }
  nlohmann::json claims = nlohmann::json::parse(grants, nullptr, false);
  free(grants);
  if (!claims.is_object()) {
    *why = "token claims are not an object";
    return std::nullopt;
  }
  auto exp = number_claim(claims, "exp");
  if (!exp) {
    *why = "token has no exp";
    return std::nullopt;
  }
  if (*exp <= now_s) {
    *why = "token expired";
    return std::nullopt;
  }
  if (auto nbf = number_claim(claims, "nbf"); nbf && *nbf > now_s) {
    *why = "token not valid yet";
    return std::nullopt;
  }
  if (auto iat = number_claim(claims, "iat"); iat && *iat > now_s + 60) {
    *why = "token issued in the future";
    return std::nullopt;
  }
  identity id;
  id.exp = *exp;
  auto sub = claims.find("sub");
  if (sub == claims.end()) {
    *why = "token has no sub";
    return std::nullopt;
  }
  if (sub->is_number_unsigned()) {
    id.user_id = sub->get<std::uint64_t>();
  } else if (sub->is_string()) {
    const auto& s = sub->get_ref<const std::string&>();
    if (s.empty() || s.size() > 16 || s.find_first_not_of("0123456789") != std::string::npos) {
      *why = "token sub is not a user id";
      return std::nullopt;
    }
    id.user_id = std::stoull(s);
  } else {
    *why = "token sub is not a positive user id";
    return std::nullopt;
  }
  if (id.user_id == 0 || id.user_id > proto::max_safe_id) {
    *why = "token sub is not a positive user id";
    return std::nullopt;
  }
  if (auto g = claims.find("groups"); g != claims.end() && g->is_array()) {
    std::vector<std::string> entries;
    for (const auto& e : *g) {
      if (e.is_string()) entries.push_back(e.get<std::string>());
    }
    id.groups = proto::group_set::from_claims(entries);
  }
  return id;
}

std::string token_verifier::mint(std::uint64_t user_id, const std::vector<std::string>& groups,
                                 std::int64_t now_s, std::int64_t ttl_s) const {
  jwt_t* raw = nullptr;
  jwt_new(&raw);
  jwt_ptr jwt(raw);
  nlohmann::json claims = {{"sub", std::to_string(user_id)}, {"iat", now_s}, {"exp", now_s + ttl_s}};
  if (!groups.empty()) claims["groups"] = groups;
  jwt_add_grants_json(jwt.get(), claims.dump().c_str());
  jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(secret_.data()),
              static_cast<int>(secret_.size()));
  char* enc = jwt_encode_str(jwt.get());
  std::string out = enc ? enc : "";
  free(enc);
  return out;
}

}  // namespace herald::gateway
