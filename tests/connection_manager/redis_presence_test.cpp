#include "connection_manager/redis_presence.hpp"

#include <catch2/catch.hpp>
#include <future>
#include <mutex>

#include "tests/connection_manager/redis_fixture.hpp"

using herald::cm::presence_totals;
using herald::cm::redis_presence;
using herald::test::io_thread;
using herald::test::redis_test_server;
using herald::test::wait_until;
using namespace std::chrono_literals;

namespace {

redis_presence::options node(const redis_test_server& redis, const char* id,
                             std::chrono::milliseconds heartbeat = 200ms,
                             std::chrono::milliseconds ttl = 1000ms) {
  redis_presence::options o;
  o.url = redis.url();
  o.node_id = id;
  o.prefix = "test:";
  o.heartbeat = heartbeat;
  o.ttl = ttl;
  o.debounce = 20ms;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  return o;
}

// One Herald process as far as presence goes: its loop, its sessions, its registry.
struct test_node {
  io_thread loop;
  std::shared_ptr<std::mutex> mu = std::make_shared<std::mutex>();
  std::shared_ptr<redis_presence::user_counts> users =
      std::make_shared<redis_presence::user_counts>();
  redis_presence presence;

  test_node(redis_presence::options o, redis_presence::user_counts initial)
      : presence(loop.io(), std::move(o), [mu = mu, users = users](auto done) {
          redis_presence::user_counts copy;
          {
            std::lock_guard lock(*mu);
            copy = *users;
          }
          done(std::move(copy));
        }) {
    *users = std::move(initial);
    presence.start();
  }
  void set(redis_presence::user_counts u) {
    std::lock_guard lock(*mu);
    *users = std::move(u);
  }
  std::optional<std::uint64_t> connections_of(std::uint64_t user) {
    std::promise<std::optional<std::uint64_t>> p;
    presence.user_connections(user, [&p](auto n) { p.set_value(n); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    return f.get();
  }
  std::optional<std::vector<std::uint64_t>> connections_of(std::vector<std::uint64_t> ids) {
    std::promise<std::optional<std::vector<std::uint64_t>>> p;
    presence.users_connections(std::move(ids), [&p](auto n) { p.set_value(n); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    return f.get();
  }
  std::optional<presence_totals> totals() {
    std::promise<std::optional<presence_totals>> p;
    presence.totals([&p](auto t) { p.set_value(t); });
    auto f = p.get_future();
    REQUIRE(f.wait_for(5s) == std::future_status::ready);
    return f.get();
  }
  bool totals_are(std::uint64_t connections, std::uint64_t users_online, std::uint64_t nodes) {
    auto t = totals();
    return t && t->connections == connections && t->users_online == users_online &&
           t->nodes == nodes;
  }
};

}  // namespace

TEST_CASE("presence sums a user's connections and the totals over the live nodes",
          "[redis][presence]") {
  redis_test_server redis;
  test_node a(node(redis, "a"), {{1, 2}, {2, 1}});
  test_node b(node(redis, "b"), {{1, 1}, {3, 1}});
  REQUIRE(wait_until([&] { return a.presence.healthy() && b.presence.healthy(); }));

  CHECK(a.connections_of(1) == 3);
  CHECK(b.connections_of(2) == 1);
  CHECK(a.connections_of(3) == 1);
  CHECK(a.connections_of(4) == 0);
  CHECK(b.connections_of({1, 2, 3, 4}) == std::vector<std::uint64_t>{3, 1, 1, 0});
  CHECK(a.connections_of(std::vector<std::uint64_t>{}) == std::vector<std::uint64_t>{});
  auto t = a.totals();
  REQUIRE(t);
  CHECK(t->connections == 5);
  CHECK(t->users_online == 3);  // user 1 is on both nodes and counts once
  CHECK(t->nodes == 2);
}

TEST_CASE("refresh_soon writes a change before the next heartbeat", "[redis][presence]") {
  redis_test_server redis;
  test_node a(node(redis, "a", 5s, 15s), {{1, 1}, {2, 1}});
  test_node b(node(redis, "b", 5s, 15s), {{1, 1}});
  REQUIRE(wait_until([&] { return a.presence.healthy() && b.presence.healthy(); }));
  REQUIRE(a.connections_of(2) == 1);

  a.set({{1, 3}, {5, 1}});
  a.presence.refresh_soon();
  REQUIRE(wait_until([&] { return b.connections_of(2) == 0; }, 1s));
  CHECK(b.connections_of(1) == 4);
  CHECK(b.connections_of(5) == 1);
  CHECK(b.totals_are(5, 2, 2));
}

TEST_CASE("a node that stops heartbeating is dropped after its TTL", "[redis][presence]") {
  redis_test_server redis;
  test_node a(node(redis, "a"), {{1, 2}, {2, 1}});
  auto b =
      std::make_unique<test_node>(node(redis, "b"), redis_presence::user_counts{{1, 1}, {3, 4}});
  REQUIRE(wait_until([&] { return a.presence.healthy() && b->presence.healthy(); }));
  REQUIRE(a.totals_are(8, 3, 2));

  b->loop.halt();  // frozen like a node killed with kill -9
  std::this_thread::sleep_for(500ms);
  CHECK(a.totals_are(8, 3, 2));  // still within its TTL
  REQUIRE(wait_until([&] { return a.totals_are(3, 2, 1); }, 3s));
  CHECK(a.connections_of(1) == 2);
  CHECK(a.connections_of(3) == 0);
  b.reset();
}

TEST_CASE("a node that stops cleanly leaves the registry at once", "[redis][presence]") {
  redis_test_server redis;
  test_node a(node(redis, "a", 1s, 10s), {{1, 1}});
  test_node b(node(redis, "b", 1s, 10s), {{1, 1}, {2, 1}});
  REQUIRE(wait_until([&] { return a.presence.healthy() && b.presence.healthy(); }));
  REQUIRE(a.totals_are(3, 2, 2));

  b.presence.stop();
  REQUIRE(wait_until([&] { return a.totals_are(1, 1, 1); }, 1s));
  CHECK(a.connections_of(1) == 1);
  CHECK(a.connections_of(2) == 0);
}

TEST_CASE("a node restarted under the same id replaces its old entries", "[redis][presence]") {
  redis_test_server redis;
  test_node b(node(redis, "b", 1s, 10s), {{1, 1}});
  auto a = std::make_unique<test_node>(node(redis, "a", 1s, 10s),
                                       redis_presence::user_counts{{1, 2}, {2, 1}});
  REQUIRE(wait_until([&] { return a->presence.healthy() && b.presence.healthy(); }));
  REQUIRE(b.connections_of(1) == 3);

  a->loop.halt();
  a.reset();  // gone without leaving; its entries would live until the TTL
  test_node again(node(redis, "a", 1s, 10s), {{1, 1}});
  REQUIRE(wait_until([&] { return again.presence.healthy(); }));
  CHECK(b.connections_of(1) == 2);
  CHECK(b.connections_of(2) == 0);
  CHECK(b.totals_are(2, 1, 2));
}

TEST_CASE("after a Redis restart the nodes write their entries again", "[redis][presence]") {
  redis_test_server redis;
  test_node a(node(redis, "a"), {{1, 1}});
  test_node b(node(redis, "b"), {{2, 2}});
  REQUIRE(wait_until([&] { return a.presence.healthy() && b.presence.healthy(); }));
  REQUIRE(a.totals_are(3, 2, 2));

  redis.stop();
  REQUIRE(wait_until([&] { return !a.presence.healthy() && !b.presence.healthy(); }));
  CHECK_FALSE(a.connections_of(1));  // no answer rather than a wrong one
  CHECK_FALSE(a.totals());

  redis.start();  // empty: nothing was persisted
  REQUIRE(wait_until([&] { return a.presence.healthy() && b.presence.healthy(); }));
  CHECK(a.totals_are(3, 2, 2));
  CHECK(b.connections_of(1) == 1);
}

TEST_CASE("presence refuses a TTL that is not longer than the heartbeat", "[redis][presence]") {
  io_thread loop;
  redis_presence::options o;
  o.url = "redis://127.0.0.1:6379";
  o.node_id = "a";
  o.heartbeat = 2s;
  o.ttl = 2s;
  CHECK_THROWS_AS(redis_presence(loop.io(), o, [](auto done) { done({}); }), std::invalid_argument);
}

TEST_CASE("a lookup on a frozen Redis answers nullopt at its timeout, and values again after",
          "[redis][presence]") {
  redis_test_server redis;
  auto o = node(redis, "a");
  o.lookup_timeout = 50ms;
  test_node a(o, {{1, 2}});
  REQUIRE(wait_until([&] { return a.presence.healthy(); }));
  REQUIRE(a.connections_of(std::vector<std::uint64_t>{1}) == std::vector<std::uint64_t>{2});
  redis.pause();
  const auto start = std::chrono::steady_clock::now();
  const auto frozen = a.connections_of(std::vector<std::uint64_t>{1});
  const auto took = std::chrono::steady_clock::now() - start;
  redis.resume();
  CHECK_FALSE(frozen);
  CHECK(took >= 45ms);
  CHECK(took < 1s);  // the timeout, not Redis' return
  CHECK(a.presence.lookups_timed_out() == 1);
  REQUIRE(wait_until([&] {
    return a.connections_of(std::vector<std::uint64_t>{1}) == std::vector<std::uint64_t>{2};
  }));
}
