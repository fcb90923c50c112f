#include "connection_manager/registry.hpp"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "proto/audience.hpp"

namespace asio = boost::asio;
using namespace std::chrono_literals;
using herald::cm::event;
using herald::cm::event_target;
using herald::cm::event_type;
using herald::cm::registry;

namespace {

constexpr auto deadline = 5s;

// A session that records what the registry handed it, and on which thread.
class fake_session : public herald::cm::session {
 public:
  fake_session(std::uint64_t user, const std::vector<std::string>& groups = {})
      : session(user, herald::proto::group_set::from_claims(groups)) {}

  void on_notification(std::uint64_t id,
                       const std::shared_ptr<const std::string>& prefix) override {
    std::lock_guard lock(mu_);
    notifications_.emplace_back(id, prefix);
    threads_.insert(std::this_thread::get_id());
  }
  void on_frame(const std::shared_ptr<const std::string>& frame) override {
    std::lock_guard lock(mu_);
    frames_.push_back(frame);
    threads_.insert(std::this_thread::get_id());
  }
  void on_count_changed() override {
    std::lock_guard lock(mu_);
    ++count_changes_;
    threads_.insert(std::this_thread::get_id());
  }
  void close_with(std::uint16_t code, const char*) override {
    std::lock_guard lock(mu_);
    closes_.push_back(code);
  }
  void on_bus_lost() override { bus_lost_ = true; }
  void on_bus_back() override { bus_lost_ = false; }
  void on_resync() override { ++resyncs_; }
  bool bus_lost() const { return bus_lost_; }
  int resyncs() const { return resyncs_; }

  std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> notifications() {
    std::lock_guard lock(mu_);
    return notifications_;
  }
  std::vector<std::shared_ptr<const std::string>> frames() {
    std::lock_guard lock(mu_);
    return frames_;
  }
  int count_changes() {
    std::lock_guard lock(mu_);
    return count_changes_;
  }
  std::vector<std::uint16_t> closes() {
    std::lock_guard lock(mu_);
    return closes_;
  }
  std::set<std::thread::id> threads() {
    std::lock_guard lock(mu_);
    return threads_;
  }
  std::size_t deliveries() {
    std::lock_guard lock(mu_);
    return notifications_.size() + frames_.size() + static_cast<std::size_t>(count_changes_);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<std::uint64_t, std::shared_ptr<const std::string>>> notifications_;
  std::vector<std::shared_ptr<const std::string>> frames_;
  int count_changes_ = 0;
  std::vector<std::uint16_t> closes_;
  std::set<std::thread::id> threads_;
  std::atomic<bool> bus_lost_{false};
  std::atomic<int> resyncs_{0};
};

template <class T>
T await(std::future<T> f) {
  REQUIRE(f.wait_for(deadline) == std::future_status::ready);
  return f.get();
}

// A registry over `n` real io_contexts, each run by its own thread.
struct shards {
  std::vector<std::unique_ptr<asio::io_context>> contexts;
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
  std::vector<std::thread> threads;
  std::vector<std::thread::id> thread_ids;
  std::unique_ptr<registry> reg;

  explicit shards(std::size_t n, std::size_t max_per_user = 32) {
    std::vector<asio::io_context*> raw;
    for (std::size_t i = 0; i < n; ++i) {
      contexts.push_back(std::make_unique<asio::io_context>(1));
      guards.push_back(asio::make_work_guard(*contexts.back()));
      raw.push_back(contexts.back().get());
    }
    for (auto& c : contexts) threads.emplace_back([ctx = c.get()] { ctx->run(); });
    for (auto& t : threads) thread_ids.push_back(t.get_id());
    reg = std::make_unique<registry>(raw, max_per_user);
  }
  ~shards() {
    for (auto& g : guards) g.reset();
    for (auto& c : contexts) c->stop();
    for (auto& t : threads) t.join();
  }

  // Runs fn on the shard thread of `user` and waits for it.
  template <class Fn>
  void on_user_shard(std::uint64_t user, Fn fn) {
    std::promise<void> p;
    asio::post(reg->context(reg->shard_for(user)), [&] {
      fn();
      p.set_value();
    });
    await(p.get_future());
  }
  void add(fake_session& s) {
    on_user_shard(s.user_id(), [&] { reg->add(s); });
  }
  void remove(fake_session& s) {
    on_user_shard(s.user_id(), [&] { reg->remove(s); });
  }
  // Waits until every shard has run what was posted to it before (and dropped those handlers).
  void barrier() {
    for (auto& c : contexts) {
      std::promise<void> p;
      asio::post(*c, [&] { p.set_value(); });
      await(p.get_future());
    }
  }
  std::size_t deliver(std::shared_ptr<const event> e) {
    auto p = std::make_shared<std::promise<std::size_t>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    reg->deliver(std::move(e), [p, calls](std::size_t n) {
      if (calls->fetch_add(1) == 0) p->set_value(n);
    });
    auto n = await(p->get_future());
    barrier();
    CHECK(calls->load() == 1);  // done runs once
    return n;
  }
  std::size_t count(std::shared_ptr<const event> e) {
    std::promise<std::size_t> p;
    reg->count(std::move(e), [&](std::size_t n) { p.set_value(n); });
    return await(p.get_future());
  }
  std::size_t presence(std::uint64_t user) {
    std::promise<std::size_t> p;
    reg->presence(user, [&](std::size_t n) { p.set_value(n); });
    return await(p.get_future());
  }
  herald::cm::node_totals totals() {
    std::promise<herald::cm::node_totals> p;
    reg->totals([&](herald::cm::node_totals t) { p.set_value(t); });
    return await(p.get_future());
  }
  std::unordered_map<std::uint64_t, std::uint32_t> snapshot() {
    std::promise<std::unordered_map<std::uint64_t, std::uint32_t>> p;
    reg->snapshot(
        [&](std::unordered_map<std::uint64_t, std::uint32_t> m) { p.set_value(std::move(m)); });
    return await(p.get_future());
  }
};

std::shared_ptr<const std::string> text(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

std::shared_ptr<event> to_users(event_type type, std::vector<std::uint64_t> users,
                                std::shared_ptr<const std::string> payload = text("p"),
                                std::uint64_t id = 0) {
  auto e = std::make_shared<event>();
  e->type = type;
  e->target = event_target::users;
  e->users = std::move(users);
  e->payload = std::move(payload);
  e->id = id;
  return e;
}

std::shared_ptr<event> to_everyone(event_type type,
                                   std::shared_ptr<const std::string> payload = text("p"),
                                   std::uint64_t id = 0) {
  auto e = std::make_shared<event>();
  e->type = type;
  e->target = event_target::everyone;
  e->payload = std::move(payload);
  e->id = id;
  return e;
}

std::shared_ptr<event> to_group(event_type type, std::string group,
                                std::shared_ptr<const std::string> payload = text("p")) {
  auto e = std::make_shared<event>();
  e->type = type;
  e->target = event_target::group;
  e->group = std::move(group);
  e->payload = std::move(payload);
  return e;
}

// Two user ids that hash to different shards of `s`.
std::pair<std::uint64_t, std::uint64_t> users_on_two_shards(shards& s) {
  for (std::uint64_t b = 2; b < 1000; ++b) {
    if (s.reg->shard_for(b) != s.reg->shard_for(1)) return {1, b};
  }
  FAIL("every user id hashed to one shard");
  return {0, 0};
}

}  // namespace

TEST_CASE("an added session is counted and reached; a removed one is neither", "[registry]") {
  shards s(2);
  fake_session a(7);
  s.add(a);
  CHECK(s.presence(7) == 1);
  CHECK(s.totals().connections == 1);
  CHECK(s.totals().users == 1);
  CHECK(s.deliver(to_users(event_type::count_changed, {7})) == 1);
  CHECK(a.count_changes() == 1);

  s.remove(a);
  CHECK(s.presence(7) == 0);
  CHECK(s.totals().connections == 0);
  CHECK(s.totals().users == 0);
  CHECK(s.deliver(to_users(event_type::count_changed, {7})) == 0);
  CHECK(s.deliver(to_everyone(event_type::count_changed)) == 0);
  CHECK(a.count_changes() == 1);
  s.remove(a);  // a second remove is harmless
  CHECK(s.totals().connections == 0);
}

TEST_CASE("removing one session keeps the others of its shard reachable", "[registry]") {
  shards s(1);
  fake_session a(1), b(2), c(3);
  s.add(a);
  s.add(b);
  s.add(c);
  s.remove(a);  // the last session moves into a's slot
  CHECK(s.deliver(to_everyone(event_type::count_changed)) == 2);
  CHECK(a.count_changes() == 0);
  CHECK(b.count_changes() == 1);
  CHECK(c.count_changes() == 1);
  s.remove(c);
  s.remove(b);
  CHECK(s.totals().connections == 0);
}

TEST_CASE("a personal delivery reaches every session of the user and nobody else", "[registry]") {
  shards s(3);
  auto [u1, u2] = users_on_two_shards(s);
  fake_session a1(u1), a2(u1), a3(u1), b(u2), other(u2 + 1000);
  for (auto* x : {&a1, &a2, &a3, &b, &other}) s.add(*x);

  auto prefix = text("{\"type\":\"notification\",\"notification\":{\"id\":41}");
  CHECK(s.deliver(to_users(event_type::notification, {u1}, prefix, 41)) == 3);
  for (auto* x : {&a1, &a2, &a3}) {
    auto got = x->notifications();
    REQUIRE(got.size() == 1);
    CHECK(got[0].first == 41);
    CHECK(*got[0].second == *prefix);
  }
  CHECK(b.deliveries() == 0);
  CHECK(other.deliveries() == 0);

  // Several users on different shards in one event.
  CHECK(s.deliver(to_users(event_type::desktop, {u1, u2}, text("{\"type\":\"desktop\"}"))) == 4);
  for (auto* x : {&a1, &a2, &a3, &b}) CHECK(x->frames().size() == 1);
  CHECK(other.deliveries() == 0);

  // A user with no session here costs nothing and reaches nobody.
  CHECK(s.deliver(to_users(event_type::count_changed, {999999})) == 0);
  CHECK(s.deliver(to_users(event_type::count_changed, {})) == 0);
  for (auto* x : {&a1, &a2, &a3, &b, &other}) CHECK(x->count_changes() == 0);
}

TEST_CASE("an everyone delivery reaches every session on every shard", "[registry]") {
  shards s(3);
  std::vector<std::unique_ptr<fake_session>> sessions;
  for (std::uint64_t u = 1; u <= 20; ++u) {
    sessions.push_back(
        std::make_unique<fake_session>(u, std::vector<std::string>{"org/" + std::to_string(u)}));
    sessions.push_back(std::make_unique<fake_session>(u));
  }
  for (auto& x : sessions) s.add(*x);
  std::set<std::size_t> used;
  for (auto& x : sessions) used.insert(s.reg->shard_for(x->user_id()));
  REQUIRE(used.size() == 3);

  CHECK(s.deliver(to_everyone(event_type::notification, text("n"), 5)) == sessions.size());
  for (auto& x : sessions) {
    auto got = x->notifications();
    REQUIRE(got.size() == 1);
    CHECK(got[0].first == 5);
  }
}

TEST_CASE("a group delivery reaches exactly the sessions holding every pair", "[registry]") {
  shards s(2);
  fake_session both(1, {"org/1", "role/3"});
  fake_session more(2, {"job/7", "role/3", "org/1"});
  fake_session org_only(3, {"org/1"});
  fake_session role_only(4, {"role/3"});
  fake_session other_org(5, {"org/2", "role/3"});
  fake_session none(6);
  fake_session invalid(7, {"org/1/role/3", "ROLE/3", "org"});  // invalid entries are ignored
  std::vector<fake_session*> all{&both, &more, &org_only, &role_only, &other_org, &none, &invalid};
  for (auto* x : all) s.add(*x);

  CHECK(s.deliver(to_group(event_type::count_changed, "org/1/role/3")) == 2);
  CHECK(both.count_changes() == 1);
  CHECK(more.count_changes() == 1);
  for (auto* x : {&org_only, &role_only, &other_org, &none, &invalid})
    CHECK(x->count_changes() == 0);

  SECTION("pairs compare as a set: a non-canonical path reaches the same sessions") {
    CHECK(s.deliver(to_group(event_type::count_changed, "role/3/org/1")) == 2);
    CHECK(both.count_changes() == 2);
    CHECK(more.count_changes() == 2);
    for (auto* x : {&org_only, &role_only, &other_org, &none, &invalid})
      CHECK(x->count_changes() == 0);
  }
  SECTION("a one-pair audience reaches every holder of that pair") {
    CHECK(s.deliver(to_group(event_type::desktop, "org/1", text("d"))) == 3);
    for (auto* x : {&both, &more, &org_only}) CHECK(x->frames().size() == 1);
    for (auto* x : {&role_only, &other_org, &none, &invalid}) CHECK(x->frames().empty());
  }
  SECTION("an audience nobody is in reaches nobody, a malformed one too") {
    CHECK(s.deliver(to_group(event_type::count_changed, "org/9")) == 0);
    CHECK(s.deliver(to_group(event_type::count_changed, "org/1/job/8")) == 0);
    CHECK(s.deliver(to_group(event_type::count_changed, "not a path")) == 0);
    CHECK(both.count_changes() == 1);
  }
  SECTION("count() finds the same sessions without delivering") {
    CHECK(s.count(to_group(event_type::notification, "role/3/org/1")) == 2);
    CHECK(s.count(to_group(event_type::notification, "role/3")) == 4);
    CHECK(both.deliveries() == 1);
  }
  SECTION("a removed session leaves the group index") {
    s.remove(both);
    CHECK(s.deliver(to_group(event_type::count_changed, "org/1/role/3")) == 1);
    CHECK(both.count_changes() == 1);
    CHECK(more.count_changes() == 2);
    s.add(both);
  }
}

TEST_CASE("a group delivery skips holders of only some pairs on the same shard", "[registry]") {
  shards s(1);  // everyone on one shard: each pair's index holds sessions missing the other pair
  fake_session org_a(1, {"org/1"}), org_b(2, {"org/1"}), both(3, {"org/1", "role/3"});
  fake_session role_a(4, {"role/3"}), role_b(5, {"role/3"}), role_c(6, {"role/3"});
  fake_session three(7, {"org/1", "role/3", "team/x"});
  std::vector<fake_session*> all{&org_a, &org_b, &both, &role_a, &role_b, &role_c, &three};
  for (auto* x : all) s.add(*x);

  CHECK(s.count(to_group(event_type::notification, "org/1/role/3")) == 2);
  CHECK(s.deliver(to_group(event_type::count_changed, "role/3/org/1")) == 2);
  for (auto* x : all) CHECK(x->count_changes() == (x == &both || x == &three ? 1 : 0));
  CHECK(s.deliver(to_group(event_type::count_changed, "team/x/org/1/role/3")) == 1);
  CHECK(three.count_changes() == 2);
  CHECK(both.count_changes() == 1);
}

TEST_CASE("past the per-user cap the oldest sessions are closed with 1008", "[registry]") {
  shards s(2, 2);
  fake_session first(9), second(9), third(9), bystander(10);
  s.add(bystander);
  s.add(first);
  s.add(second);
  CHECK(first.closes().empty());
  CHECK(second.closes().empty());
  s.add(third);
  CHECK(first.closes() == std::vector<std::uint16_t>{1008});
  CHECK(second.closes().empty());
  CHECK(third.closes().empty());
  CHECK(bystander.closes().empty());

  // The closed session unregisters itself; the next arrival evicts the now-oldest.
  s.remove(first);
  fake_session fourth(9);
  s.add(fourth);
  CHECK(second.closes() == std::vector<std::uint16_t>{1008});
  CHECK(third.closes().empty());
  CHECK(fourth.closes().empty());
  CHECK(first.closes().size() == 1);
  s.remove(second);
  CHECK(s.presence(9) == 2);
}

TEST_CASE("a cap of three evicts only as many as are over it", "[registry]") {
  shards s(1, 3);
  std::vector<std::unique_ptr<fake_session>> v;
  for (int i = 0; i < 3; ++i) {
    v.push_back(std::make_unique<fake_session>(4));
    s.add(*v.back());
  }
  for (auto& x : v) CHECK(x->closes().empty());
  v.push_back(std::make_unique<fake_session>(4));
  s.add(*v.back());
  CHECK(v[0]->closes() == std::vector<std::uint16_t>{1008});
  for (std::size_t i = 1; i < v.size(); ++i) CHECK(v[i]->closes().empty());
}

TEST_CASE("count, presence, totals and snapshot report the local sessions", "[registry]") {
  shards s(3);
  fake_session a1(1), a2(1), b(2), c1(3, {"org/1"}), c2(3), c3(3, {"org/1"});
  for (auto* x : {&a1, &a2, &b, &c1, &c2, &c3}) s.add(*x);

  CHECK(s.presence(1) == 2);
  CHECK(s.presence(2) == 1);
  CHECK(s.presence(3) == 3);
  CHECK(s.presence(4) == 0);
  auto t = s.totals();
  CHECK(t.connections == 6);
  CHECK(t.users == 3);
  auto snap = s.snapshot();
  CHECK(snap == std::unordered_map<std::uint64_t, std::uint32_t>{{1, 2}, {2, 1}, {3, 3}});

  CHECK(s.count(to_users(event_type::notification, {1, 2, 4})) == 3);
  CHECK(s.count(to_users(event_type::desktop, {3})) == 3);
  CHECK(s.count(to_everyone(event_type::notification)) == 6);
  CHECK(s.count(to_group(event_type::notification, "org/1")) == 2);
  for (auto* x : {&a1, &a2, &b, &c1, &c2, &c3}) CHECK(x->deliveries() == 0);

  s.remove(a1);
  s.remove(b);
  t = s.totals();
  CHECK(t.connections == 4);
  CHECK(t.users == 2);
  CHECK(s.snapshot() == std::unordered_map<std::uint64_t, std::uint32_t>{{1, 1}, {3, 3}});
}

TEST_CASE("a broadcast hands every session the very same encoded frame", "[registry]") {
  shards s(3);
  std::vector<std::unique_ptr<fake_session>> sessions;
  for (std::uint64_t u = 1; u <= 30; ++u) {
    sessions.push_back(std::make_unique<fake_session>(u));
    sessions.push_back(std::make_unique<fake_session>(u));
  }
  for (auto& x : sessions) s.add(*x);
  const std::size_t n = sessions.size();

  SECTION("notification to everyone") {
    auto prefix = text(std::string(4096, 'x'));
    const std::string* raw = prefix.get();
    CHECK(s.deliver(to_everyone(event_type::notification, prefix, 77)) == n);
    // Event and posted handlers are gone: only the sessions and this test hold the frame.
    CHECK(prefix.use_count() == static_cast<long>(n + 1));
    for (auto& x : sessions) {
      auto got = x->notifications();
      REQUIRE(got.size() == 1);
      CHECK(got[0].second.get() == raw);
    }
  }
  SECTION("desktop frame to many users, split over the shards") {
    auto frame = text("{\"type\":\"desktop\",\"title\":\"t\",\"content\":\"c\"}");
    std::vector<std::uint64_t> users;
    for (std::uint64_t u = 1; u <= 30; ++u) users.push_back(u);
    CHECK(s.deliver(to_users(event_type::desktop, users, frame)) == n);
    CHECK(frame.use_count() == static_cast<long>(n + 1));
    for (auto& x : sessions) {
      auto got = x->frames();
      REQUIRE(got.size() == 1);
      CHECK(got[0].get() == frame.get());
    }
  }
  SECTION("group notification") {
    std::vector<std::unique_ptr<fake_session>> members;
    for (std::uint64_t u = 100; u < 110; ++u)
      members.push_back(
          std::make_unique<fake_session>(u, std::vector<std::string>{"org/1", "role/2"}));
    for (auto& x : members) s.add(*x);
    auto prefix = text("group frame");
    CHECK(s.deliver(to_group(event_type::notification, "org/1/role/2", prefix)) == members.size());
    CHECK(prefix.use_count() == static_cast<long>(members.size() + 1));
    for (auto& x : members) {
      auto got = x->notifications();
      REQUIRE(got.size() == 1);
      CHECK(got[0].second.get() == prefix.get());
    }
    for (auto& x : sessions) CHECK(x->deliveries() == 0);
    for (auto& x : members) s.remove(*x);
  }
}

TEST_CASE("sessions of one user always land on the same shard thread", "[registry]") {
  shards s(4);
  std::vector<std::unique_ptr<fake_session>> sessions;
  for (std::uint64_t u = 1; u <= 40; ++u)
    for (int k = 0; k < 3; ++k) sessions.push_back(std::make_unique<fake_session>(u));
  for (auto& x : sessions) s.add(*x);

  std::set<std::size_t> used;
  for (std::uint64_t u = 1; u <= 40; ++u) {
    const std::size_t shard = s.reg->shard_for(u);
    CHECK(shard < s.reg->shard_count());
    CHECK(s.reg->shard_for(u) == shard);  // stable
    used.insert(shard);
  }
  CHECK(used.size() == 4);  // consecutive ids spread over the shards

  for (std::uint64_t u = 1; u <= 40; ++u) s.deliver(to_users(event_type::count_changed, {u}));
  s.deliver(to_everyone(event_type::count_changed));
  for (auto& x : sessions) {
    const auto threads = x->threads();
    REQUIRE(threads.size() == 1);  // every delivery to it ran on one thread ...
    // ... the thread of the shard its user hashes to.
    CHECK(*threads.begin() == s.thread_ids[s.reg->shard_for(x->user_id())]);
    CHECK(x->count_changes() == 2);
  }
}

TEST_CASE("a count_changed event reaches on_count_changed of the matching sessions", "[registry]") {
  shards s(2);
  fake_session a(1, {"org/1"}), b(2), c(3, {"org/1"});
  for (auto* x : {&a, &b, &c}) s.add(*x);
  CHECK(s.deliver(to_users(event_type::count_changed, {2})) == 1);
  CHECK(b.count_changes() == 1);
  CHECK(s.deliver(to_group(event_type::count_changed, "org/1")) == 2);
  CHECK(s.deliver(to_everyone(event_type::count_changed)) == 3);
  CHECK(a.count_changes() == 2);
  CHECK(b.count_changes() == 2);
  CHECK(c.count_changes() == 2);
  for (auto* x : {&a, &b, &c}) {
    CHECK(x->notifications().empty());
    CHECK(x->frames().empty());
  }
}

TEST_CASE("for_each visits every session on its shard and then runs done", "[registry]") {
  shards s(3);
  std::vector<std::unique_ptr<fake_session>> sessions;
  for (std::uint64_t u = 1; u <= 12; ++u) sessions.push_back(std::make_unique<fake_session>(u));
  for (auto& x : sessions) s.add(*x);
  std::promise<void> done;
  s.reg->for_each([](herald::cm::session& x) { x.close_with(1001, "shutdown"); },
                  [&] { done.set_value(); });
  await(done.get_future());
  for (auto& x : sessions) CHECK(x->closes() == std::vector<std::uint16_t>{1001});
}

TEST_CASE("close_user closes every session of the user with 4003 and nobody else's", "[registry]") {
  shards s(3);
  fake_session a1(71), a2(71), b(72);
  s.add(a1);
  s.add(a2);
  s.add(b);
  std::promise<std::size_t> p;
  s.reg->close_user(71, [&](std::size_t n) { p.set_value(n); });
  CHECK(await(p.get_future()) == 2);
  s.barrier();
  CHECK(a1.closes() == std::vector<std::uint16_t>{4003});
  CHECK(a2.closes() == std::vector<std::uint16_t>{4003});
  CHECK(b.closes().empty());
  CHECK(a1.deliveries() == 0);  // a close, not a frame or a recount
  // A revoke event from the bus does the same.
  auto e = std::make_shared<event>();
  e->type = event_type::revoke;
  e->target = event_target::users;
  e->users = {72};
  CHECK(s.deliver(e) == 1);
  CHECK(b.closes() == std::vector<std::uint16_t>{4003});
  std::promise<std::size_t> none;
  s.reg->close_user(73, [&](std::size_t n) { none.set_value(n); });
  CHECK(await(none.get_future()) == 0);
  s.remove(a1);
  s.remove(a2);
  s.remove(b);
}

TEST_CASE("a lost bus reaches every session, and each one added until it is back", "[registry]") {
  shards s(2);
  fake_session a(1), b(2);
  s.add(a);
  s.reg->bus_lost_all();
  s.barrier();
  CHECK(a.bus_lost());
  s.add(b);  // connected during the outage: told at once
  CHECK(b.bus_lost());
  std::promise<void> done;
  s.reg->resync_all([&] { done.set_value(); });
  await(done.get_future());
  CHECK(a.resyncs() == 1);
  CHECK(b.resyncs() == 1);
  fake_session c(3);
  s.add(c);  // repaired, but not settled yet: still told
  CHECK(c.bus_lost());
  s.reg->bus_back_all();
  s.barrier();
  CHECK_FALSE(a.bus_lost());
  CHECK_FALSE(b.bus_lost());
  CHECK_FALSE(c.bus_lost());
  fake_session d(4);
  s.add(d);  // after the return: nothing to tell
  CHECK_FALSE(d.bus_lost());
  CHECK(d.resyncs() == 0);
}
