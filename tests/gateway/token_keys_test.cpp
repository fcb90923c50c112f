// Key selection and claim checks of token_verifier with public keys (RS256, ES256) and JWKS
// sets, the keys generated here with OpenSSL; and the strict numeric claims, table-driven.
#include "gateway/token_verifier.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "gateway/jwks_keys.hpp"
#include "gateway/jwks_source.hpp"
#include "tests/gateway/jwt_signing.hpp"

using herald::gateway::jwks_source;
using herald::gateway::parse_jwks;
using herald::gateway::parse_public_key_pem;
using herald::gateway::token_verifier;
using herald::test::base64url;
using herald::test::hmac;
using nlohmann::json;

namespace {

constexpr std::int64_t now = 1'800'000'000;
const std::string secret = "test-secret-of-some-length-0123456789";

struct pkey_free {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr rsa_key(unsigned bits = 2048) { return pkey_ptr(EVP_RSA_gen(bits)); }
pkey_ptr ec_key(const char* curve = "P-256") { return pkey_ptr(EVP_EC_gen(curve)); }

std::string public_pem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(b, k);
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

std::string sign(EVP_PKEY* k, const std::string& input) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, k);
  std::size_t len = 0;
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                 input.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(input.data()), input.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_EC) return sig;
  // JWS wants ES256 signatures as R || S, 32 bytes each, not DER.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(es);
  return raw;
}

json header(const std::string& alg, const std::string& kid = "") {
  json h = {{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) h["kid"] = kid;
  return h;
}

std::string token_with(EVP_PKEY* k, const std::string& alg, const json& claims,
                       const std::string& kid = "") {
  const std::string input = base64url(header(alg, kid).dump()) + "." + base64url(claims.dump());
  return input + "." + base64url(sign(k, input));
}

std::string hs_token(const std::string& key, const json& claims, const std::string& kid = "") {
  const std::string input = base64url(header("HS256", kid).dump()) + "." + base64url(claims.dump());
  return input + "." + base64url(hmac(EVP_sha256(), key, input));
}

json claims(std::uint64_t sub = 42) {
  return json{{"sub", std::to_string(sub)}, {"exp", now + 3600}, {"iat", now - 10}};
}

std::string bn_bytes(EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(k, name, &bn);
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

json jwk_of(EVP_PKEY* k, const std::string& kid) {
  if (EVP_PKEY_get_base_id(k) == EVP_PKEY_RSA) {
    return json{{"kty", "RSA"},
                {"kid", kid},
                {"use", "sig"},
                {"alg", "RS256"},
                {"n", base64url(bn_bytes(k, OSSL_PKEY_PARAM_RSA_N))},
                {"e", base64url(bn_bytes(k, OSSL_PKEY_PARAM_RSA_E))}};
  }
  unsigned char pub[133];
  std::size_t len = 0;
  EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof pub, &len);
  const std::string point(reinterpret_cast<const char*>(pub), len);  // 0x04 || x || y
  return json{{"kty", "EC"},
              {"kid", kid},
              {"crv", "P-256"},
              {"x", base64url(point.substr(1, 32))},
              {"y", base64url(point.substr(33, 32))}};
}

// A JWKS file in the temporary directory, removed with the object.
struct jwks_file {
  std::string path;
  explicit jwks_file(const json& doc) {
    char tmpl[] = "/tmp/herald-jwks-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ::close(fd);
    path = tmpl;
    write(doc);
  }
  void write(const json& doc) const { std::ofstream(path, std::ios::trunc) << doc.dump(); }
  ~jwks_file() { std::remove(path.c_str()); }
};

bool accepted(const token_verifier& v, const std::string& t, std::int64_t at = now) {
  std::string why;
  return v.verify(t, at, &why).has_value();
}

std::string refusal(const token_verifier& v, const std::string& t) {
  std::string why;
  auto id = v.verify(t, now, &why);
  return id ? std::string("accepted") : why;
}

token_verifier with_public_key(EVP_PKEY* k, std::string sec = "") {
  token_verifier::options o;
  o.secret = std::move(sec);
  o.public_key = parse_public_key_pem(public_pem(k));
  return token_verifier(std::move(o));
}

}  // namespace

TEST_CASE("a PEM public key is bound to its algorithm: RSA to RS256, EC P-256 to ES256",
          "[token][keys]") {
  auto rsa = rsa_key();
  auto ec = ec_key();
  CHECK(parse_public_key_pem(public_pem(rsa.get())).alg == herald::gateway::jwt_alg::rs256);
  CHECK(parse_public_key_pem(public_pem(ec.get())).alg == herald::gateway::jwt_alg::es256);
  CHECK_THROWS_AS(parse_public_key_pem("not a key"), std::invalid_argument);
  CHECK_THROWS_AS(parse_public_key_pem(public_pem(rsa_key(1024).get())), std::invalid_argument);
  CHECK_THROWS_AS(parse_public_key_pem(public_pem(ec_key("P-384").get())), std::invalid_argument);
  CHECK_THROWS_AS(
      parse_public_key_pem("-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"),
      std::invalid_argument);
}

TEST_CASE("RS256 and ES256 tokens are accepted with their public key and nothing else",
          "[token][keys]") {
  auto rsa = rsa_key();
  auto ec = ec_key();
  auto other_rsa = rsa_key();
  struct row {
    const char* what;
    EVP_PKEY* configured;
    EVP_PKEY* signer;
    const char* alg;
    bool good;
  };
  const row rows[] = {
      {"RS256 signed by the configured RSA key", rsa.get(), rsa.get(), "RS256", true},
      {"ES256 signed by the configured EC key", ec.get(), ec.get(), "ES256", true},
      {"RS256 signed by another RSA key", rsa.get(), other_rsa.get(), "RS256", false},
      {"RS256 header with an EC key configured", ec.get(), rsa.get(), "RS256", false},
      {"ES256 header with an RSA key configured", rsa.get(), ec.get(), "ES256", false},
      {"ES256 header over an RSA signature", rsa.get(), rsa.get(), "ES256", false},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    auto v = with_public_key(r.configured);
    const auto t = token_with(r.signer, r.alg, claims());
    CHECK(accepted(v, t) == r.good);
    if (r.good) {
      std::string why;
      auto id = v.verify(t, now, &why);
      REQUIRE(id);
      CHECK(id->user_id == 42);
      CHECK(id->exp == now + 3600);
    }
  }
}

TEST_CASE("an HS256 token whose secret is the public key's PEM text is refused", "[token][keys]") {
  auto rsa = rsa_key();
  const std::string pem = public_pem(rsa.get());
  const std::string normalised = parse_public_key_pem(pem).material;
  for (const auto& key_text : {pem, normalised}) {
    // With no secret configured, and with another secret configured.
    CHECK(refusal(with_public_key(rsa.get()), hs_token(key_text, claims())) != "accepted");
    CHECK(refusal(with_public_key(rsa.get(), secret), hs_token(key_text, claims())) != "accepted");
  }
  // The positive control: the configured secret still works beside the public key.
  CHECK(accepted(with_public_key(rsa.get(), secret), hs_token(secret, claims())));
}

TEST_CASE("alg none and unknown algorithms are refused whatever keys are configured",
          "[token][keys]") {
  auto rsa = rsa_key();
  auto v = with_public_key(rsa.get(), secret);
  const std::string body = base64url(claims().dump());
  for (const char* alg : {"none", "None", "NONE", "HS384", "HS512", "RS384", "RS512", "PS256",
                          "ES384", "EdDSA", ""}) {
    INFO(alg);
    const std::string input = base64url(json{{"alg", alg}}.dump()) + "." + body;
    CHECK(refusal(v, input + ".") != "accepted");
    CHECK(refusal(v, input + "." + base64url(hmac(EVP_sha256(), secret, input))) != "accepted");
    CHECK(refusal(v, input + "." + base64url(sign(rsa.get(), input))) != "accepted");
  }
  // A header without alg, or with a crit extension.
  CHECK(refusal(v, base64url(R"({"typ":"JWT"})") + "." + body + ".x") != "accepted");
  const std::string crit = base64url(R"({"alg":"RS256","crit":["exp"],"exp":1})") + "." + body;
  CHECK(refusal(v, crit + "." + base64url(sign(rsa.get(), crit))) != "accepted");
}

TEST_CASE("a JWKS with two kids chooses the key by kid", "[token][keys][jwks]") {
  auto k1 = rsa_key();
  auto k2 = ec_key();
  auto stranger = rsa_key();
  jwks_file file(json{{"keys", json::array({jwk_of(k1.get(), "k1"), jwk_of(k2.get(), "k2")})}});
  token_verifier::options o;
  o.jwks = std::make_shared<jwks_source>(jwks_source::options{file.path});
  token_verifier v(std::move(o));
  struct row {
    const char* what;
    EVP_PKEY* signer;
    const char* alg;
    const char* kid;
    bool good;
  };
  const row rows[] = {
      {"k1 RS256", k1.get(), "RS256", "k1", true},
      {"k2 ES256", k2.get(), "ES256", "k2", true},
      {"no kid: every key of the algorithm is tried", k1.get(), "RS256", "", true},
      {"k1 named but signed by another key", stranger.get(), "RS256", "k1", false},
      {"k2 named with RS256 (k2 is an EC key)", k1.get(), "RS256", "k2", false},
      {"k1 named with ES256 (k1 is an RSA key)", k2.get(), "ES256", "k1", false},
      {"an unknown kid", k1.get(), "RS256", "k3", false},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    CHECK(accepted(v, token_with(r.signer, r.alg, claims(), r.kid)) == r.good);
  }
  // No secret here: HS256 is refused even when signed with a JWK's text.
  CHECK(refusal(v, hs_token(jwk_of(k1.get(), "k1").dump(), claims(), "k1")) != "accepted");
}

TEST_CASE("a JWKS keeps the usable keys and skips the rest", "[token][keys][jwks]") {
  auto k1 = rsa_key();
  json keys = json::array(
      {jwk_of(k1.get(), "good"), json{{"kty", "oct"}, {"k", "c2VjcmV0"}, {"kid", "hmac"}},
       json{{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}},
       json{{"kty", "EC"}, {"kid", "p384"}, {"crv", "P-384"}, {"x", "AA"}, {"y", "AA"}},
       json{{"kty", "EC"},
            {"kid", "bad-point"},
            {"crv", "P-256"},
            {"x", base64url(std::string(32, '\x01'))},
            {"y", base64url(std::string(32, '\x02'))}},
       json{{"kty", "RSA"},
            {"kid", "alg-mismatch"},
            {"alg", "ES256"},
            {"n", jwk_of(k1.get(), "x")["n"]},
            {"e", "AQAB"}},
       "not an object"});
  std::vector<std::string> skipped;
  auto got = parse_jwks(json{{"keys", keys}}.dump(), &skipped);
  REQUIRE(got.size() == 1);
  CHECK(got[0].kid == "good");
  CHECK(skipped.size() == 6);
  CHECK_THROWS_AS(parse_jwks("{not json", nullptr), std::invalid_argument);
  CHECK_THROWS_AS(parse_jwks(R"({"keys":{}})", nullptr), std::invalid_argument);
  CHECK_THROWS_AS(parse_jwks("[]", nullptr), std::invalid_argument);
  // A file without one usable key does not make a source.
  jwks_file empty(json{{"keys", json::array()}});
  CHECK_THROWS_AS(jwks_source(jwks_source::options{empty.path}), std::invalid_argument);
}

TEST_CASE("a kid the set lacks makes the source read it again, at most once per interval",
          "[token][keys][jwks]") {
  using namespace std::chrono_literals;
  auto k1 = rsa_key();
  auto k2 = ec_key();
  auto k3 = rsa_key();
  jwks_file file(json{{"keys", json::array({jwk_of(k1.get(), "k1")})}});
  jwks_source::options jo{file.path};
  jo.unknown_kid_every = 1500ms;
  auto source = std::make_shared<jwks_source>(jo);
  source->start();
  token_verifier::options o;
  o.jwks = source;
  token_verifier v(std::move(o));
  auto eventually_accepted = [&](const std::string& t) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (accepted(v, t)) return true;
      std::this_thread::sleep_for(10ms);
    }
    return false;
  };
  CHECK(source->attempts() == 1);  // the constructor's read
  // The key provider adds k2; the first token naming it is refused and asks for a read.
  file.write(json{{"keys", json::array({jwk_of(k1.get(), "k1"), jwk_of(k2.get(), "k2")})}});
  const auto t2 = token_with(k2.get(), "ES256", claims(), "k2");
  CHECK(refusal(v, t2) == "token kid names no known key");
  CHECK(eventually_accepted(t2));
  CHECK(source->attempts() == 2);
  // k3 right after: the read waits for the interval since the last one.
  file.write(json{{"keys", json::array({jwk_of(k1.get(), "k1"), jwk_of(k2.get(), "k2"),
                                        jwk_of(k3.get(), "k3")})}});
  const auto t3 = token_with(k3.get(), "RS256", claims(), "k3");
  const auto asked = std::chrono::steady_clock::now();
  CHECK_FALSE(accepted(v, t3));
  std::this_thread::sleep_for(500ms);
  CHECK_FALSE(accepted(v, t3));
  CHECK(source->attempts() == 2);
  CHECK(eventually_accepted(t3));
  CHECK(std::chrono::steady_clock::now() - asked >= 900ms);
  CHECK(source->attempts() == 3);
  CHECK(accepted(v, token_with(k1.get(), "RS256", claims(), "k1")));
  source->stop();
}

TEST_CASE("numeric claims must be integers within 0..2^53-1", "[token][claims]") {
  token_verifier v(secret);
  const double two53 = 9007199254740992.0;
  struct row {
    const char* claim;
    json value;
    bool good;
  };
  const std::vector<row> rows = {
      {"exp", now + 3600, true},
      {"exp", static_cast<double>(now + 3600), true},  // 1800003600.0: integral
      {"exp", static_cast<double>(now) + 3600.5, false},
      {"exp", 1e300, false},
      {"exp", std::to_string(now + 3600), false},
      {"exp", -1, false},
      {"exp", two53, false},
      {"exp", std::uint64_t{1} << 53, false},
      {"exp", (std::uint64_t{1} << 53) - 1, true},
      {"exp", true, false},
      {"exp", nullptr, false},
      {"exp", json::array({now + 3600}), false},
      {"nbf", 1e300, false},
      {"nbf", std::to_string(now + 3600), false},
      {"nbf", std::to_string(now - 10), false},
      {"nbf", -1, false},
      {"nbf", 1.5, false},
      {"nbf", two53, false},
      {"nbf", 5.0, true},
      {"nbf", 0, true},
      {"nbf", now, true},
      {"nbf", now + 1, false},  // not valid yet
      {"iat", 1e300, false},
      {"iat", "123", false},
      {"iat", -1, false},
      {"iat", 1.5, false},
      {"iat", two53, false},
      {"iat", 5.0, true},
      {"iat", 0, true},
      {"iat", now + 30, true},   // clocks drift: up to a minute ahead is fine
      {"iat", now + 61, false},  // issued in the future
      {"iat", json::object(), false},
  };
  for (const auto& r : rows) {
    INFO(r.claim << " = " << r.value.dump());
    auto c = claims();
    c[r.claim] = r.value;
    CHECK(accepted(v, hs_token(secret, c)) == r.good);
  }
}

TEST_CASE("identity.exp is the token's exp, as an integer", "[token][claims]") {
  token_verifier v(secret);
  auto c = claims();
  c["exp"] = 1900000000.0;
  std::string why;
  auto id = v.verify(hs_token(secret, c), now, &why);
  REQUIRE(id);
  CHECK(id->exp == 1900000000);
}

TEST_CASE("issuer and audience are compared as exact strings", "[token][claims]") {
  token_verifier::options o;
  o.secret = secret;
  o.issuer = "https://id.example.com/realms/shop";
  o.audience = "herald";
  token_verifier v(std::move(o));
  struct row {
    const char* what;
    json iss;
    json aud;
    bool good;
  };
  const row rows[] = {
      {"both match", "https://id.example.com/realms/shop", "herald", true},
      {"aud array containing it", "https://id.example.com/realms/shop",
       json::array({"account", "herald"}), true},
      {"aud array without it", "https://id.example.com/realms/shop",
       json::array({"account", "heraldx"}), false},
      {"aud other", "https://id.example.com/realms/shop", "account", false},
      {"aud case differs", "https://id.example.com/realms/shop", "Herald", false},
      {"aud a prefix", "https://id.example.com/realms/shop", "her", false},
      {"aud not a string", "https://id.example.com/realms/shop", 5, false},
      {"aud missing", "https://id.example.com/realms/shop", nullptr, false},
      {"iss with a trailing slash", "https://id.example.com/realms/shop/", "herald", false},
      {"iss other", "https://evil.example.com/realms/shop", "herald", false},
      {"iss not a string", json::array({"https://id.example.com/realms/shop"}), "herald", false},
      {"iss missing", nullptr, "herald", false},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    auto c = claims();
    if (!r.iss.is_null()) c["iss"] = r.iss;
    if (!r.aud.is_null()) c["aud"] = r.aud;
    CHECK(accepted(v, hs_token(secret, c)) == r.good);
  }
  // Unset, neither is looked at.
  auto c = claims();
  c["iss"] = "anyone";
  c["aud"] = 5;
  CHECK(accepted(token_verifier(secret), hs_token(secret, c)));
}

TEST_CASE("a JWKS URL must be http or https with a host", "[token][jwks]") {
  CHECK(jwks_source::check_url("https://id.example.com/certs").empty());
  CHECK(jwks_source::check_url("http://127.0.0.1:8080/jwks.json").empty());
  CHECK_FALSE(jwks_source::check_url("ftp://id.example.com/certs").empty());
  CHECK_FALSE(jwks_source::check_url("file:///etc/jwks.json").empty());
  CHECK_FALSE(jwks_source::check_url("https:///certs").empty());
  CHECK_THROWS_AS(jwks_source(jwks_source::options{"gopher://x/y"}), std::invalid_argument);
  jwks_source url_source(jwks_source::options{"http://127.0.0.1:1/never-started"});
  CHECK_FALSE(url_source.loaded());
  CHECK(url_source.keys()->empty());
}

TEST_CASE(
    "after a refusal for an unknown kid, after_key_fetch runs the retry once the fetch is done",
    "[token][keys][jwks]") {
  using namespace std::chrono_literals;
  auto k1 = rsa_key();
  auto k2 = ec_key();
  jwks_file file(json{{"keys", json::array({jwk_of(k1.get(), "k1")})}});
  jwks_source::options jo{file.path};
  jo.unknown_kid_every = 10s;
  auto source = std::make_shared<jwks_source>(jo);
  token_verifier::options o;
  o.jwks = source;
  token_verifier v(std::move(o));
  const auto t2 = token_with(k2.get(), "ES256", claims(), "k2");
  std::string why;
  token_verifier::refusal detail;
  {
    // A source whose thread is not running: nothing to wait for.
    token_verifier::options idle;
    idle.jwks = std::make_shared<jwks_source>(jwks_source::options{file.path});
    token_verifier stopped(std::move(idle));
    CHECK_FALSE(stopped.verify(t2, now, &why, &detail));
    CHECK(detail.unknown_kid);
    CHECK_FALSE(stopped.after_key_fetch(detail, [] {}));
  }
  source->start();
  file.write(json{{"keys", json::array({jwk_of(k1.get(), "k1"), jwk_of(k2.get(), "k2")})}});
  CHECK_FALSE(v.verify(t2, now, &why, &detail));
  CHECK(detail.unknown_kid);
  // The fetch the refusal asked for may be over already: the retry then runs at once.
  std::promise<bool> retried;
  REQUIRE(v.after_key_fetch(detail, [&] {
    std::string w;
    retried.set_value(v.verify(t2, now, &w).has_value());
  }));
  auto f = retried.get_future();
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  CHECK(f.get());
  // Another unknown kid within the interval: the fetch is held back, nothing to wait for.
  std::this_thread::sleep_for(100ms);  // any load still running for the first kid has finished
  CHECK_FALSE(v.verify(token_with(k1.get(), "RS256", claims(), "k9"), now, &why, &detail));
  CHECK(detail.unknown_kid);
  CHECK_FALSE(v.after_key_fetch(detail, [] {}));
  // A refusal for another reason is not an unknown kid.
  CHECK_FALSE(v.verify(token_with(k2.get(), "RS256", claims(), "k1"), now, &why, &detail));
  CHECK_FALSE(detail.unknown_kid);
  CHECK_FALSE(v.after_key_fetch(detail, [] {}));
  source->stop();
}
