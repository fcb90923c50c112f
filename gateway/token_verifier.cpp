#include "gateway/token_verifier.hpp"

#include <jwt.h>

#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>

#include "gateway/jwks_source.hpp"
#include "proto/notify_request.hpp"

namespace herald::gateway {
namespace {

struct jwt_deleter {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using jwt_ptr = std::unique_ptr<jwt_t, jwt_deleter>;

constexpr std::size_t max_token_bytes = 8192;
constexpr std::int64_t max_claim_number = (std::int64_t{1} << 53) - 1;

enum class claim { absent, ok, bad };

// A NumericDate: an integer, or a number with no fraction, within 0..2^53-1.
claim numeric_claim(const nlohmann::json& claims, const char* name, std::int64_t* out) {
  auto it = claims.find(name);
  if (it == claims.end()) return claim::absent;
  if (it->is_number_unsigned()) {
    const auto v = it->get<std::uint64_t>();
    if (v > static_cast<std::uint64_t>(max_claim_number)) return claim::bad;
    *out = static_cast<std::int64_t>(v);
    return claim::ok;
  }
  if (it->is_number_integer()) {  // signed, so negative here
    const auto v = it->get<std::int64_t>();
    if (v < 0 || v > max_claim_number) return claim::bad;
    *out = v;
    return claim::ok;
  }
  if (it->is_number_float()) {
    const double d = it->get<double>();
    if (!std::isfinite(d) || d < 0 || d > static_cast<double>(max_claim_number) ||
        std::floor(d) != d) {
      return claim::bad;
    }
    *out = static_cast<std::int64_t>(d);
    return claim::ok;
  }
  return claim::bad;
}

std::optional<nlohmann::json> decode_part(std::string_view part) {
  std::string raw;
  if (!base64url_decode(part, &raw)) return std::nullopt;
  auto j = nlohmann::json::parse(raw, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  return j;
}

// Verifies the signature with `key` only, and only when libjwt read the same algorithm.
bool signature_ok(const std::string& token, const verify_key& key) {
  jwt_t* raw = nullptr;
  const int rc =
      jwt_decode(&raw, token.c_str(), reinterpret_cast<const unsigned char*>(key.material.data()),
                 static_cast<int>(key.material.size()));
  jwt_ptr jwt(raw);
  if (rc != 0 || !jwt) return false;
  const jwt_alg_t want = key.alg == jwt_alg::hs256   ? JWT_ALG_HS256
                         : key.alg == jwt_alg::rs256 ? JWT_ALG_RS256
                                                     : JWT_ALG_ES256;
  return jwt_get_alg(jwt.get()) == want;
}

}  // namespace

token_verifier::token_verifier(std::string secret) { opts_.secret = std::move(secret); }

token_verifier::token_verifier(options opts) : opts_(std::move(opts)) {}

bool token_verifier::after_key_fetch(const refusal& detail, std::function<void()> retry) const {
  return detail.unknown_kid && opts_.jwks &&
         opts_.jwks->after_next_load(detail.key_generation, std::move(retry));
}

std::optional<identity> token_verifier::verify(std::string_view token, std::int64_t now_s,
                                               std::string* why, refusal* detail) const {
  if (detail) *detail = refusal{};
  if (token.empty()) {
    *why = "missing token";
    return std::nullopt;
  }
  if (token.size() > max_token_bytes) {
    *why = "token too long";
    return std::nullopt;
  }
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    *why = "invalid token format";
    return std::nullopt;
  }
  // The header is read first, untrusted, only to pick the keys its algorithm may use.
  auto header = decode_part(token.substr(0, dot1));
  if (!header) {
    *why = "invalid token header";
    return std::nullopt;
  }
  auto alg_it = header->find("alg");
  if (alg_it == header->end() || !alg_it->is_string()) {
    *why = "token header has no alg";
    return std::nullopt;
  }
  if (header->contains("crit")) {
    *why = "token header has crit extensions, which are not supported";
    return std::nullopt;
  }
  const std::string& alg_text = alg_it->get_ref<const std::string&>();
  std::optional<jwt_alg> alg;
  if (alg_text == "HS256") alg = jwt_alg::hs256;
  if (alg_text == "RS256") alg = jwt_alg::rs256;
  if (alg_text == "ES256") alg = jwt_alg::es256;
  if (!alg) {
    *why = "token algorithm must be HS256, RS256 or ES256";
    return std::nullopt;
  }
  std::string kid;
  if (auto k = header->find("kid"); k != header->end()) {
    if (!k->is_string()) {
      *why = "token kid is not a string";
      return std::nullopt;
    }
    kid = k->get<std::string>();
  }

  const std::string tok(token);
  bool verified = false;
  if (*alg == jwt_alg::hs256) {
    if (opts_.secret.empty()) {
      *why = "HS256 tokens are not accepted (no secret configured)";
      return std::nullopt;
    }
    verify_key secret{jwt_alg::hs256, "", opts_.secret};
    verified = signature_ok(tok, secret);
  } else {
    // A kid names a JWKS key; the PEM key (which has no kid) is tried when no JWKS key has it.
    // Without a kid, every key of the algorithm is tried.
    bool kid_known = kid.empty();
    std::uint64_t generation = 0;
    auto set = opts_.jwks ? opts_.jwks->keys(&generation) : std::shared_ptr<const key_list>();
    bool tried = false;
    if (set) {
      for (const auto& k : *set) {
        if (!kid.empty() && k.kid != kid) continue;
        kid_known = true;
        if (k.alg != *alg) continue;
        tried = true;
        if (signature_ok(tok, k)) {
          verified = true;
          break;
        }
      }
    }
    if (!verified && opts_.public_key && opts_.public_key->alg == *alg &&
        (kid.empty() || !kid_known)) {
      tried = true;
      verified = signature_ok(tok, *opts_.public_key);
    }
    if (!verified && !kid_known && opts_.jwks) {
      opts_.jwks->unknown_kid();
      if (detail) *detail = refusal{true, generation};
    }
    if (!verified && !tried) {
      *why = !kid_known ? std::string("token kid names no known key")
                        : "no key is configured for " + alg_text + " tokens";
      return std::nullopt;
    }
  }
  if (!verified) {
    *why = "invalid token signature or format";
    return std::nullopt;
  }

  // Signed: the claims are read from the payload as sent.
  auto claims = decode_part(token.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!claims) {
    *why = "token claims are not an object";
    return std::nullopt;
  }
  identity id;
  std::int64_t nbf = 0, iat = 0;
  switch (numeric_claim(*claims, "exp", &id.exp)) {
    case claim::absent:
      *why = "token has no exp";
      return std::nullopt;
    case claim::bad:
      *why = "token exp is not an integer from 0 to 2^53-1";
      return std::nullopt;
    case claim::ok:
      break;
  }
  if (id.exp <= now_s) {
    *why = "token expired";
    return std::nullopt;
  }
  switch (numeric_claim(*claims, "nbf", &nbf)) {
    case claim::bad:
      *why = "token nbf is not an integer from 0 to 2^53-1";
      return std::nullopt;
    case claim::ok:
      if (nbf > now_s) {
        *why = "token not valid yet";
        return std::nullopt;
      }
      break;
    case claim::absent:
      break;
  }
  switch (numeric_claim(*claims, "iat", &iat)) {
    case claim::bad:
      *why = "token iat is not an integer from 0 to 2^53-1";
      return std::nullopt;
    case claim::ok:
      if (iat > now_s + 60) {
        *why = "token issued in the future";
        return std::nullopt;
      }
      break;
    case claim::absent:
      break;
  }
  if (!opts_.issuer.empty()) {
    auto iss = claims->find("iss");
    if (iss == claims->end() || !iss->is_string() ||
        iss->get_ref<const std::string&>() != opts_.issuer) {
      *why = "token iss is not the configured issuer";
      return std::nullopt;
    }
  }
  if (!opts_.audience.empty()) {
    auto aud = claims->find("aud");
    bool ok = false;
    if (aud != claims->end() && aud->is_string())
      ok = aud->get_ref<const std::string&>() == opts_.audience;
    if (aud != claims->end() && aud->is_array()) {
      for (const auto& a : *aud)
        ok = ok || (a.is_string() && a.get_ref<const std::string&>() == opts_.audience);
    }
    if (!ok) {
      *why = "token aud does not contain the configured audience";
      return std::nullopt;
    }
  }
  auto sub = claims->find("sub");
  if (sub == claims->end()) {
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
  if (auto g = claims->find("groups"); g != claims->end() && g->is_array()) {
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
  if (opts_.secret.empty()) return {};
  jwt_t* raw = nullptr;
  jwt_new(&raw);
  jwt_ptr jwt(raw);
  nlohmann::json claims = {
      {"sub", std::to_string(user_id)}, {"iat", now_s}, {"exp", now_s + ttl_s}};
  if (!groups.empty()) claims["groups"] = groups;
  if (!opts_.issuer.empty()) claims["iss"] = opts_.issuer;
  if (!opts_.audience.empty()) claims["aud"] = opts_.audience;
  jwt_add_grants_json(jwt.get(), claims.dump().c_str());
  jwt_set_alg(jwt.get(), JWT_ALG_HS256, reinterpret_cast<const unsigned char*>(opts_.secret.data()),
              static_cast<int>(opts_.secret.size()));
  char* enc = jwt_encode_str(jwt.get());
  std::string out = enc ? enc : "";
  free(enc);
  return out;
}

}  // namespace herald::gateway
