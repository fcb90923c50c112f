#include "persistence/store_connection.hpp"

#include <catch2/catch.hpp>
#include <stdexcept>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using persistence::failure;
using persistence::store;
using persistence::store_connection;

STORE_CASE("a connection opens on its first call and is kept for the next", "[connection]") {
  store_connection c(b.url());
  CHECK_FALSE(c.open());
  auto first = c.call([](store& s) { return &s; });
  REQUIRE(first.ok());
  CHECK(c.open());
  auto second = c.call([](store& s) { return &s; });
  REQUIRE(second.ok());
  CHECK(*second.value == *first.value);
}

STORE_CASE("a call that loses a connection which was not fresh is tried once more on a new one",
           "[connection]") {
  store_connection c(b.url());
  REQUIRE(c.call([](store& s) { return s.unread_count(user(1), t0).unread; }).ok());
  int attempts = 0;
  auto out = c.call([&](store& s) {
    if (++attempts == 1) throw persistence::store_unavailable("connection lost");
    return s.unread_count(user(1), t0).unread;
  });
  CHECK(attempts == 2);
  REQUIRE(out.ok());
  CHECK(*out.value == 0);
}

STORE_CASE("a fresh connection that fails is answered unreachable without a second try",
           "[connection]") {
  store_connection c(b.url());
  int attempts = 0;
  auto out = c.call([&](store&) -> int {
    ++attempts;
    throw persistence::store_unavailable("down");
  });
  CHECK(attempts == 1);
  CHECK_FALSE(out.ok());
  CHECK(out.why == failure::unreachable);
  CHECK(out.unavailable);
  CHECK_FALSE(c.open());  // dropped: the next call reconnects
}

STORE_CASE("a full store keeps its connection; any other error drops it and is not retried",
           "[connection]") {
  store_connection c(b.url());
  int attempts = 0;
  auto full = c.call([&](store&) -> int {
    ++attempts;
    throw persistence::store_full("disk full");
  });
  CHECK(attempts == 1);
  CHECK(full.why == failure::full);
  CHECK(full.unavailable);
  CHECK(c.open());
  auto bad = c.call([&](store&) -> int {
    ++attempts;
    throw std::runtime_error("bad data");
  });
  CHECK(attempts == 2);
  CHECK(bad.why == failure::error);
  CHECK_FALSE(bad.unavailable);
  CHECK(bad.error == "bad data");
  CHECK_FALSE(c.open());
}

STORE_CASE("a commit of unknown outcome is thrown on, never retried", "[connection]") {
  store_connection c(b.url());
  REQUIRE(c.call([](store&) { return 0; }).ok());
  int attempts = 0;
  CHECK_THROWS_AS(c.call([&](store&) -> int {
    ++attempts;
    throw persistence::commit_unknown("cut off during COMMIT", "token", {});
  }),
                  persistence::commit_unknown);
  CHECK(attempts == 1);
  CHECK_FALSE(c.open());
}

TEST_CASE(
    "an unreachable store is answered unreachable, and patiently retried until the patience ends",
    "[connection]") {
  store_connection c("sqlite:/nonexistent-dir/x/herald.db");
  auto out = c.call([](store&) { return 1; });
  CHECK_FALSE(out.ok());
  CHECK(out.why == failure::unreachable);
  const auto start = std::chrono::steady_clock::now();
  auto late = c.call_patiently([](store&) { return 1; }, std::chrono::milliseconds(300));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK_FALSE(late.has_value());
  CHECK(took >= std::chrono::milliseconds(140));  // 50 + 100 ms of pauses at least
  CHECK(took < std::chrono::seconds(2));
}

STORE_CASE("a patient call comes back as soon as the store answers", "[connection]") {
  store_connection c(b.url());
  int attempts = 0;
  auto out = c.call_patiently(
      [&](store&) {
        // Two rounds fail (each on a fresh connection, so each is one attempt); the third answers.
        if (++attempts <= 2) throw persistence::store_unavailable("restarting");
        return attempts;
      },
      std::chrono::seconds(5));
  REQUIRE(out.has_value());
  CHECK(*out == 3);
}
