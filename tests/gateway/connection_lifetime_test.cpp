#include "gateway/connection_lifetime.hpp"

#include <catch2/catch.hpp>

using herald::gateway::connection_lifetime;

namespace {

const connection_lifetime::limits limits{60, 30,
                                         10};  // warn 60 s ahead; ping after 30 s; cut 10 s later

}  // namespace

TEST_CASE("a token's connection is warned once ahead of exp and expires at exp", "[lifetime]") {
  connection_lifetime l(1000, 0);
  for (std::int64_t t = 1; t < 940; t += 7) {
    l.heard(t);
    CHECK_FALSE(l.tick(t, limits).warn);
  }
  l.heard(940);
  auto d = l.tick(940, limits);
  CHECK(d.warn);
  CHECK_FALSE(d.expired);
  l.heard(941);
  CHECK_FALSE(l.tick(941, limits).warn);  // once
  CHECK_FALSE(l.tick(999, limits).expired);
  d = l.tick(1000, limits);
  CHECK(d.expired);
  CHECK_FALSE(d.warn);
  CHECK_FALSE(d.ping);
}

TEST_CASE("without exp a connection never expires", "[lifetime]") {
  connection_lifetime l(0, 0);
  for (std::int64_t t = 0; t < 100000; t += 1000) {
    l.heard(t);
    auto d = l.tick(t, limits);
    CHECK_FALSE(d.expired);
    CHECK_FALSE(d.warn);
  }
}

TEST_CASE("silence brings one ping; an answer resets it, no answer cuts", "[lifetime]") {
  connection_lifetime l(0, 100);
  CHECK_FALSE(l.tick(129, limits).ping);
  auto d = l.tick(130, limits);
  CHECK(d.ping);
  CHECK_FALSE(l.tick(131, limits).ping);  // one outstanding at a time
  CHECK_FALSE(l.tick(139, limits).cut);
  l.heard(139);  // the pong
  CHECK_FALSE(l.tick(140, limits).cut);
  CHECK(l.tick(169, limits).ping);
  CHECK_FALSE(l.tick(178, limits).cut);
  CHECK(l.tick(179, limits).cut);  // 10 s without an answer
}

TEST_CASE("a refresh with a token that does not verify changes nothing", "[lifetime]") {
  herald::gateway::token_verifier v(std::string("test-secret-of-some-length-0123456789"));
  connection_lifetime l(1000, 0);
  auto r = l.refresh(v, "not.a.token", 42, {}, 10);
  CHECK(r.what == connection_lifetime::refreshed::kind::refused);
  CHECK_FALSE(r.why.empty());
  CHECK_FALSE(r.groups.has_value());
  CHECK(l.exp() == 1000);
  CHECK(l.tick(940, limits).warn);
}
