#include "connection_manager/redis_bus.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <mutex>
#include <vector>

#include "tests/connection_manager/redis_fixture.hpp"

using herald::cm::event;
using herald::cm::event_target;
using herald::cm::event_type;
using herald::cm::redis_bus;
using herald::test::io_thread;
using herald::test::redis_test_server;
using herald::test::wait_until;
using namespace std::chrono_literals;

namespace {

// Collects what a node's handler was given.
struct recorder {
  std::mutex mu;
  std::vector<event> events;
  std::size_t count(std::uint64_t id) {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& e : events) n += e.id == id ? 1 : 0;
    return n;
  }
};

event users_event(std::vector<std::uint64_t> users, std::uint64_t id) {
  event e;
  e.type = event_type::notification;
  e.target = event_target::users;
  e.users = std::move(users);
  e.id = id;
  e.payload = std::make_shared<const std::string>("{\"type\":\"notification\"");
  return e;
}

event everyone_event(std::uint64_t id) {
  event e;
  e.type = event_type::desktop;
  e.target = event_target::everyone;
  e.id = id;
  e.payload = std::make_shared<const std::string>("{\"type\":\"desktop\"}");
  return e;
}

event group_event(std::uint64_t id) {
  event e;
  e.type = event_type::count_changed;
  e.target = event_target::group;
  e.group = "org/1";
  e.id = id;
  return e;
}

redis_bus::options node(const redis_test_server& redis, const char* id) {
  redis_bus::options o;
  o.url = redis.url();
  o.node_id = id;
  o.prefix = "test:";
  o.per_user_limit = 2;
  o.unsubscribe_after = 100ms;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  o.ping_interval = 200ms;
  return o;
}

// A bus node with its own loop, like one Herald process.
struct test_node {
  io_thread loop;
  redis_bus bus;
  std::shared_ptr<recorder> seen = std::make_shared<recorder>();
  std::shared_ptr<std::atomic<int>> reconnects = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> lost = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> settled = std::make_shared<std::atomic<int>>(0);
  // Channels Redis had confirmed when the node heard of its return.
  std::shared_ptr<std::atomic<std::size_t>> channels_at_reconnect =
      std::make_shared<std::atomic<std::size_t>>(0);
  explicit test_node(redis_bus::options o) : bus(loop.io(), std::move(o)) {
    bus.set_on_reconnect([r = reconnects, c = channels_at_reconnect, b = &bus] {
      ++*r;
      *c = b->subscribed_channels();
    });
    bus.set_on_lost([l = lost] { ++*l; });
    bus.set_on_settled([s = settled] { ++*s; });
    bus.start([s = seen](const event& e) {
      std::lock_guard lock(s->mu);
      s->events.push_back(e);
    });
  }
  ~test_node() { bus.stop(); }
};

}  // namespace

TEST_CASE("two nodes deliver each other's events exactly once", "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  test_node b(node(redis, "b"));
  b.bus.user_connected(42);
  a.bus.user_connected(7);
  REQUIRE(wait_until([&] {
    return a.bus.healthy() && b.bus.healthy() && a.bus.subscribed_channels() == 2 &&
           b.bus.subscribed_channels() == 2;
  }));

  a.bus.publish(users_event({42}, 1));
  CHECK(a.seen->count(1) == 1);  // local delivery happens inside publish()
  REQUIRE(wait_until([&] { return b.seen->count(1) == 1; }));

  b.bus.publish(everyone_event(2));
  REQUIRE(wait_until([&] { return a.seen->count(2) == 1; }));
  a.bus.publish(group_event(3));
  REQUIRE(wait_until([&] { return b.seen->count(3) == 1; }));
  // More users than per_user_limit: one message on the shared channel.
  b.bus.publish(users_event({7, 8, 9}, 4));
  REQUIRE(wait_until([&] { return a.seen->count(4) == 1; }));
  CHECK(a.seen->events.back().users == std::vector<std::uint64_t>{7, 8, 9});

  std::this_thread::sleep_for(300ms);  // time for any duplicate to arrive
  for (std::uint64_t id = 1; id <= 4; ++id) {
    CHECK(a.seen->count(id) == 1);
    CHECK(b.seen->count(id) == 1);
  }
  CHECK(a.bus.stats().received == 2);
  CHECK(b.bus.stats().received == 2);
}

TEST_CASE("a personal event reaches only the nodes holding the user", "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  test_node b(node(redis, "b"));
  b.bus.user_connected(42);
  REQUIRE(wait_until([&] { return a.bus.healthy() && b.bus.subscribed_channels() == 2; }));

  a.bus.publish(users_event({99}, 1));  // nobody holds user 99
  a.bus.publish(users_event({42}, 2));
  REQUIRE(wait_until([&] { return b.seen->count(2) == 1; }));
  std::this_thread::sleep_for(200ms);
  CHECK(b.seen->count(1) == 0);
  CHECK(b.bus.stats().received == 1);
}

TEST_CASE("a user channel is dropped after the last session leaves and taken again on return",
          "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  test_node b(node(redis, "b"));
  b.bus.user_connected(42);
  b.bus.user_connected(42);  // two tabs
  REQUIRE(wait_until([&] { return a.bus.healthy() && b.bus.subscribed_channels() == 2; }));

  b.bus.user_disconnected(42);
  std::this_thread::sleep_for(300ms);
  CHECK(b.bus.subscribed_channels() == 2);  // one tab is still open
  b.bus.user_disconnected(42);
  REQUIRE(wait_until([&] { return b.bus.subscribed_channels() == 1; }));
  a.bus.publish(users_event({42}, 1));
  std::this_thread::sleep_for(200ms);
  CHECK(b.seen->count(1) == 0);

  b.bus.user_connected(42);
  REQUIRE(wait_until([&] { return b.bus.subscribed_channels() == 2; }));
  a.bus.publish(users_event({42}, 2));
  REQUIRE(wait_until([&] { return b.seen->count(2) == 1; }));

  // A reload (leave and come back at once) keeps the channel and its delivery.
  b.bus.user_disconnected(42);
  b.bus.user_connected(42);
  std::this_thread::sleep_for(300ms);
  CHECK(b.bus.subscribed_channels() == 2);
  a.bus.publish(users_event({42}, 3));
  REQUIRE(wait_until([&] { return b.seen->count(3) == 1; }));
}

TEST_CASE("with Redis stopped local delivery goes on, and a restart resumes the cluster",
          "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  test_node b(node(redis, "b"));
  b.bus.user_connected(42);
  REQUIRE(wait_until(
      [&] { return a.bus.healthy() && b.bus.healthy() && b.bus.subscribed_channels() == 2; }));
  CHECK(a.reconnects->load() == 0);

  redis.stop();
  REQUIRE(wait_until([&] { return !a.bus.healthy() && !b.bus.healthy(); }));
  CHECK(b.bus.subscribed_channels() == 0);
  a.bus.publish(users_event({42}, 1));
  CHECK(a.seen->count(1) == 1);
  REQUIRE(wait_until([&] { return a.bus.stats().dropped == 1; }));

  redis.start();
  REQUIRE(wait_until(
      [&] { return a.bus.healthy() && b.bus.healthy() && b.bus.subscribed_channels() == 2; }));
  // Each node hears of the return from its own subscription and, on the resync channel, from
  // the other node's publisher: one or two calls (the server folds a burst into one resync).
  CHECK(a.reconnects->load() >= 1);
  CHECK(a.reconnects->load() <= 2);
  CHECK(b.reconnects->load() >= 1);
  CHECK(b.reconnects->load() <= 2);
  a.bus.publish(users_event({42}, 2));
  REQUIRE(wait_until([&] { return b.seen->count(2) == 1; }));
  b.bus.publish(everyone_event(3));
  REQUIRE(wait_until([&] { return a.seen->count(3) == 1; }));
  CHECK(b.seen->count(1) == 0);  // what was published during the outage is not replayed
}

TEST_CASE("a Redis that stops answering without closing is noticed and reconnected",
          "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  test_node b(node(redis, "b"));
  b.bus.user_connected(42);
  REQUIRE(wait_until(
      [&] { return a.bus.healthy() && b.bus.healthy() && b.bus.subscribed_channels() == 2; }));

  redis.pause();
  REQUIRE(wait_until([&] { return !a.bus.healthy() && !b.bus.healthy(); }));
  redis.resume();
  REQUIRE(wait_until(
      [&] { return a.bus.healthy() && b.bus.healthy() && b.bus.subscribed_channels() == 2; }));
  CHECK(b.reconnects->load() >= 1);
  a.bus.publish(users_event({42}, 1));
  REQUIRE(wait_until([&] { return b.seen->count(1) == 1; }));
  std::this_thread::sleep_for(200ms);
  CHECK(b.seen->count(1) == 1);
}

TEST_CASE("a bus started before Redis is up connects once it is and asks for a resync",
          "[redis][bus]") {
  redis_test_server redis;
  redis.stop();
  test_node a(node(redis, "a"));
  std::this_thread::sleep_for(300ms);
  CHECK_FALSE(a.bus.healthy());
  a.bus.publish(everyone_event(1));
  CHECK(a.seen->count(1) == 1);

  redis.start();
  REQUIRE(wait_until([&] { return a.bus.healthy(); }));
  REQUIRE(wait_until([&] { return a.reconnects->load() == 1; }));
}

TEST_CASE("a bad bus URL is refused at construction", "[redis][bus]") {
  io_thread loop;
  redis_bus::options o;
  o.node_id = "a";
  o.url = "http://localhost:6379";
  CHECK_THROWS_AS(redis_bus(loop.io(), o), std::invalid_argument);
  o.url = "redis://localhost:6379";
  o.node_id = "";
  CHECK_THROWS_AS(redis_bus(loop.io(), o), std::invalid_argument);
}

TEST_CASE("a lost subscription is told at once; its return after every user channel, then settled",
          "[redis][bus]") {
  redis_test_server redis;
  test_node a(node(redis, "a"));
  for (std::uint64_t u = 1; u <= 20; ++u) a.bus.user_connected(u);
  REQUIRE(wait_until([&] { return a.bus.healthy() && a.bus.subscribed_channels() == 21; }));
  CHECK(a.lost->load() == 0);
  CHECK(a.settled->load() == 0);  // no outage yet: nothing to settle

  redis.stop();
  REQUIRE(wait_until([&] { return a.lost->load() >= 1; }));
  CHECK_FALSE(a.bus.subscribed());
  redis.start();
  REQUIRE(wait_until([&] { return a.reconnects->load() >= 1; }));
  // The repair starts only once every user channel is confirmed again: an event published to
  // one still being subscribed would be missed by it.
  CHECK(a.channels_at_reconnect->load() == 21);
  CHECK(a.settled->load() == 0);
  // backoff_max is 200 ms here: settled after 1.25 s.
  REQUIRE(wait_until([&] { return a.settled->load() == 1; }));
  CHECK(a.bus.subscribed());
}
