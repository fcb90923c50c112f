// Unread-count invariants under concurrency, on both backends: every thread has its own
// connection, as the store pool's threads do.
#include <atomic>
#include <latch>
#include <random>
#include <thread>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Runs fn(i, store&) on n threads, each with its own connection, started together.
template <class Fn>
void on_threads(const backend& b, int n, Fn fn) {
  std::vector<std::unique_ptr<persistence::store>> conns;
  for (int i = 0; i < n; ++i) conns.push_back(b.open());
  std::latch start(n);
  std::vector<std::thread> threads;
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex error_mutex;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      try {
        fn(i, *conns[i]);
      } catch (const std::exception& e) {
        std::lock_guard lock(error_mutex);
        if (errors++ == 0) first_error = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  INFO(first_error);
  REQUIRE(errors == 0);
}

void check_count_is_recount(persistence::store& s, const persistence::viewer& v,
                            std::int64_t now_ms) {
  const auto counted = s.unread_count(v, now_ms).unread;
  const auto listed = static_cast<std::int64_t>(list_all(s, v, true, now_ms).size());
  INFO("user " << v.user_id);
  CHECK(counted == listed);
  CHECK(counted >= 0);
}

}  // namespace

STORE_CASE("50 concurrent reads of one unread item decrement the count exactly once",
           "[invariant]") {
  auto s = b.open();
  const auto personal = add_personal(*s, 1);
  const auto shared = insert(*s, R"({"user_id":-1,"title":"b"})").items[0].id;
  add_personal(*s, 1);
  CHECK(s->unread_count(user(1), t0).unread == 3);
  for (auto id : {personal, shared}) {
    std::atomic<int> changed{0}, found{0};
    on_threads(b, 50, [&](int, persistence::store& c) {
      auto r = c.mark_read(user(1), id, t0);
      if (r.found) ++found;
      if (r.changed) ++changed;
    });
    CHECK(found == 50);
    CHECK(changed == 1);
  }
  CHECK(s->unread_count(user(1), t0).unread == 1);
  check_count_is_recount(*s, user(1), t0);
}

STORE_CASE("50 concurrent deletes of one unread item decrement the count exactly once",
           "[invariant]") {
  auto s = b.open();
  const auto id = add_personal(*s, 1);
  add_personal(*s, 1);
  std::atomic<int> changed{0};
  on_threads(b, 50, [&](int i, persistence::store& c) {
    auto r = i % 2 ? c.remove_for_user(user(1), id, t0) : c.mark_read(user(1), id, t0);
    if (r.changed && i % 2) ++changed;
  });
  CHECK(changed == 1);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  check_count_is_recount(*s, user(1), t0);
}

STORE_CASE("read-all racing new arrivals ends on the true count", "[invariant]") {
  auto s = b.open();
  auto v = user(1, {"org/1"});
  on_threads(b, 4, [&](int i, persistence::store& c) {
    std::minstd_rand rng(static_cast<unsigned>(i));
    for (int k = 0; k < 60; ++k) {
      if (i == 0) {
        c.mark_all_read(v, t0);
      } else if (i == 1) {
        std::vector<persistence::insert_request> batch;
        for (int j = 0, n = 1 + static_cast<int>(rng() % 4); j < n; ++j) {
          batch.push_back(request(R"({"user_id":1,"title":"new"})"));
        }
        c.insert_batch(batch);
      } else if (i == 2) {
        c.insert_batch({request(k % 2 ? R"({"user_id":-1,"title":"b"})"
                                      : R"({"audience":"org/1","title":"g"})")});
      } else {
        c.unread_count(v, t0);
      }
    }
  });
  check_count_is_recount(*s, v, t0);
  CHECK(s->mark_all_read(v, t0) >= 0);
  CHECK(s->unread_count(v, t0).unread == 0);
  check_count_is_recount(*s, v, t0);
}

STORE_CASE("a random concurrent mix of every operation keeps every count true", "[invariant]") {
  auto s = b.open();
  const std::vector<persistence::viewer> users{user(1, {"org/1"}), user(2, {"org/1", "role/3"}),
                                               user(3), user(4, {"role/3"})};
  std::atomic<std::uint64_t> max_id{0};
  on_threads(b, 8, [&](int i, persistence::store& c) {
    std::minstd_rand rng(static_cast<unsigned>(1000 + i));
    auto pick_id = [&] { return 1 + rng() % std::max<std::uint64_t>(1, max_id.load() + 2); };
    for (int k = 0; k < 120; ++k) {
      const auto& v = users[rng() % users.size()];
      const std::int64_t now = t0 + static_cast<std::int64_t>(rng() % 3000);
      switch (rng() % 10) {
        case 0:
        case 1: {
          static const char* bodies[] = {R"({"user_id":1,"title":"p"})",
                                         R"({"user_id":2,"title":"p","ttl_s":1})",
                                         R"({"user_ids":[1,2,3,4],"title":"many"})",
                                         R"({"user_id":-1,"title":"b"})",
                                         R"({"audience":"org/1","title":"g"})",
                                         R"({"audience":"role/3/org/1","title":"g2"})",
                                         R"({"user_id":3,"title":"k","idempotency_key":"same"})",
                                         R"({"user_id":-1,"title":"short","ttl_s":2})"};
          auto r = c.insert_batch({request(bodies[rng() % 8], now)});
          for (const auto& n : r[0].items) {
            auto seen = max_id.load();
            while (n.id > seen && !max_id.compare_exchange_weak(seen, n.id)) {
            }
          }
          break;
        }
        case 2:
        case 3:
          c.mark_read(v, pick_id(), now);
          break;
        case 4:
          c.get(v, pick_id(), true, now);
          break;
        case 5:
          c.remove_for_user(v, pick_id(), now);
          break;
        case 6:
          c.mark_all_read(v, now);
          break;
        case 7:
          c.retract(pick_id());
          break;
        case 8:
          c.purge_expired(now, 5);
          break;
        default:
          c.list_inbox(v, {}, now);
          break;
      }
    }
  });
  for (const std::int64_t when : {t0, t0 + 5'000}) {
    for (const auto& v : users) check_count_is_recount(*s, v, when);
  }
  s->purge_expired(t0 + 5'000, 1000);
  for (const auto& v : users) check_count_is_recount(*s, v, t0 + 5'000);
}
