#include "gateway/token_verifier.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/gateway/jwt_signing.hpp"

using herald::gateway::token_verifier;
using herald::test::base64url;
using herald::test::hmac;
using nlohmann::json;

namespace {

constexpr std::int64_t now = 1'800'000'000;
const std::string secret = "test-secret-of-some-length-0123456789";

// A JWT built by hand, so that tests control every byte of header, claims and signature.
std::string make_token(const json& claims, const std::string& alg = "HS256",
                       const std::string& key = secret) {
  const std::string signing_input =
      base64url(json{{"alg", alg}, {"typ", "JWT"}}.dump()) + "." + base64url(claims.dump());
  std::string sig;
  if (alg == "HS256") sig = hmac(EVP_sha256(), key, signing_input);
  if (alg == "HS512") sig = hmac(EVP_sha512(), key, signing_input);
  if (alg == "RS256") sig = std::string(256, '\x5a');  // shaped like an RSA signature
  return signing_input + "." + base64url(sig);
}

json claims_for(const json& sub) {
  return json{{"sub", sub}, {"exp", now + 3600}, {"iat", now - 10}};
}

// Verifies and expects a refusal with a reason that does not echo the token.
void expect_refused(const std::string& token) {
  token_verifier v(secret);
  std::string why;
  auto id = v.verify(token, now, &why);
  CHECK_FALSE(id.has_value());
  CHECK_FALSE(why.empty());
  if (!token.empty()) CHECK(why.find(token) == std::string::npos);
}

}  // namespace

TEST_CASE("a good HS256 token with a string sub gives its user id", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto id = v.verify(make_token(claims_for("42")), now, &why);
  REQUIRE(id.has_value());
  CHECK(id->user_id == 42);
  CHECK(id->groups.empty());
}

TEST_CASE("a good HS256 token with a numeric sub gives its user id", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto id = v.verify(make_token(claims_for(9000)), now, &why);
  REQUIRE(id.has_value());
  CHECK(id->user_id == 9000);
}

TEST_CASE("the largest JavaScript-safe user id is accepted", "[token]") {
  token_verifier v(secret);
  std::string why;
  const std::uint64_t max = (std::uint64_t{1} << 53) - 1;
  auto a = v.verify(make_token(claims_for(max)), now, &why);
  REQUIRE(a.has_value());
  CHECK(a->user_id == max);
  auto b = v.verify(make_token(claims_for(std::to_string(max))), now, &why);
  REQUIRE(b.has_value());
  CHECK(b->user_id == max);
}

TEST_CASE("the groups claim is kept and its invalid entries are ignored", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto c = claims_for("7");
  c["groups"] =
      json::array({"role/3", "org/1", "org/1/role/3", "ORG/2", "org", "job/", 5, nullptr, "job/7"});
  auto id = v.verify(make_token(c), now, &why);
  REQUIRE(id.has_value());
  CHECK(id->user_id == 7);
  std::vector<std::string> got;
  for (const auto& p : id->groups.pairs()) got.push_back(p.str());
  CHECK(got == std::vector<std::string>{"job/7", "org/1", "role/3"});
}

TEST_CASE("a groups claim that is not an array gives no groups", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto c = claims_for("7");
  c["groups"] = "org/1";
  auto id = v.verify(make_token(c), now, &why);
  REQUIRE(id.has_value());
  CHECK(id->groups.empty());
}

TEST_CASE("nbf and iat in the past are accepted", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto c = claims_for("5");
  c["nbf"] = now;
  c["iat"] = now;
  CHECK(v.verify(make_token(c), now, &why).has_value());
}

TEST_CASE("a token is good until the second before exp", "[token]") {
  token_verifier v(secret);
  std::string why;
  auto c = claims_for("5");
  c["exp"] = now + 1;
  CHECK(v.verify(make_token(c), now, &why).has_value());
  CHECK_FALSE(v.verify(make_token(c), now + 1, &why).has_value());
}

TEST_CASE("tokens that are refused", "[token]") {
  SECTION("alg none") {
    const std::string unsigned_token =
        base64url(R"({"alg":"none","typ":"JWT"})") + "." + base64url(claims_for("42").dump()) + ".";
    expect_refused(unsigned_token);
    // The same with a signature appended does not help.
    expect_refused(unsigned_token + base64url(hmac(EVP_sha256(), secret, "x")));
  }
  SECTION("an HS512 header, even correctly signed with the secret") {
    expect_refused(make_token(claims_for("42"), "HS512"));
  }
  SECTION("an RS256 token when only a secret is configured (no public key to check it)") {
    expect_refused(make_token(claims_for("42"), "RS256"));
  }
  SECTION("an RS256 header whose signature is the HMAC of the secret") {
    const std::string input = base64url(json{{"alg", "RS256"}, {"typ", "JWT"}}.dump()) + "." +
                              base64url(claims_for("42").dump());
    expect_refused(input + "." + base64url(hmac(EVP_sha256(), secret, input)));
  }
  SECTION("a bad signature") {
    auto t = make_token(claims_for("42"));
    t[t.size() - 5] = t[t.size() - 5] == 'A' ? 'B' : 'A';
    expect_refused(t);
  }
  SECTION("claims changed after signing") {
    auto t = make_token(claims_for("42"));
    const auto first = t.find('.'), second = t.rfind('.');
    auto forged = t.substr(0, first + 1) + base64url(claims_for("43").dump()) + t.substr(second);
    expect_refused(forged);
  }
  SECTION("signed with another secret") {
    expect_refused(make_token(claims_for("42"), "HS256", "another-secret"));
  }
  SECTION("expired: exp now or earlier") {
    auto c = claims_for("42");
    c["exp"] = now;
    expect_refused(make_token(c));
    c["exp"] = now - 100;
    expect_refused(make_token(c));
  }
  SECTION("no exp") {
    auto c = claims_for("42");
    c.erase("exp");
    expect_refused(make_token(c));
  }
  SECTION("exp that is not a number") {
    auto c = claims_for("42");
    c["exp"] = std::to_string(now + 3600);
    expect_refused(make_token(c));
  }
  SECTION("nbf in the future") {
    auto c = claims_for("42");
    c["nbf"] = now + 30;
    expect_refused(make_token(c));
  }
  SECTION("no sub") {
    auto c = claims_for("42");
    c.erase("sub");
    expect_refused(make_token(c));
  }
  SECTION("sub 0") {
    expect_refused(make_token(claims_for(0)));
    expect_refused(make_token(claims_for("0")));
  }
  SECTION("sub -5") {
    expect_refused(make_token(claims_for(-5)));
    expect_refused(make_token(claims_for("-5")));
  }
  SECTION("sub abc and other non-ids") {
    expect_refused(make_token(claims_for("abc")));
    expect_refused(make_token(claims_for("")));
    expect_refused(make_token(claims_for("12a")));
    expect_refused(make_token(claims_for(1.5)));
    expect_refused(make_token(claims_for(true)));
    expect_refused(make_token(claims_for(json::array({1}))));
  }
  SECTION("sub above 2^53-1") {
    const std::uint64_t over = std::uint64_t{1} << 53;
    expect_refused(make_token(claims_for(over)));
    expect_refused(make_token(claims_for(std::to_string(over))));
    expect_refused(make_token(claims_for("18446744073709551616")));
    expect_refused(make_token(claims_for(std::uint64_t{18446744073709551615ull})));
  }
  SECTION("garbage") {
    expect_refused("garbage");
    expect_refused("a.b.c");
    expect_refused("...");
    expect_refused(base64url("{") + "." + base64url("{") + ".");
  }
  SECTION("empty") { expect_refused(""); }
}

TEST_CASE("a minted token round-trips through verify", "[token]") {
  token_verifier v(secret);
  const auto t = v.mint(12345, {"org/1", "role/3"}, now, 600);
  std::string why;
  auto id = v.verify(t, now, &why);
  REQUIRE(id.has_value());
  CHECK(id->user_id == 12345);
  REQUIRE(id->groups.pairs().size() == 2);
  CHECK(id->groups.pairs()[0].str() == "org/1");
  CHECK(id->groups.pairs()[1].str() == "role/3");
  // It lives exactly ttl_s seconds, and only the minting secret accepts it.
  CHECK(v.verify(t, now + 599, &why).has_value());
  CHECK_FALSE(v.verify(t, now + 600, &why).has_value());
  CHECK_FALSE(token_verifier("other").verify(t, now, &why).has_value());
}
