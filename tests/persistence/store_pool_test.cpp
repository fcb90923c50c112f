#include "persistence/store_pool.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdlib>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

namespace {

// Runs one call through the pool and waits for its outcome on an io_context. The context
// outlives every pool: a pool thread may still be inside post() (signalling the context's
// scheduler) when the completion has already run here.
template <class Fn>
auto call(persistence::store_pool& pool, Fn fn) {
  static boost::asio::io_context io;
  io.restart();
  auto guard = boost::asio::make_work_guard(io);
  using R = std::invoke_result_t<Fn&, persistence::store&>;
  std::optional<persistence::outcome<R>> got;
  pool.submit(io.get_executor(), std::move(fn), [&](persistence::outcome<R> o) {
    got = std::move(o);
    guard.reset();
  });
  io.run_for(std::chrono::seconds(30));
  REQUIRE(got);
  return *got;
}

bool mariadb_script(const std::string& function) {
  const std::string cmd =
      "bash -c '. \"" HERALD_SOURCE_DIR "/deploy/lib/mariadb.sh\" && " + function + " >/dev/null'";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

STORE_CASE("the pool runs calls on its threads and posts outcomes back", "[pool]") {
  boost::asio::io_context io;  // before the pool: it outlives the pool's threads
  persistence::store_pool pool(b.url(), 3);
  auto guard = boost::asio::make_work_guard(io);
  std::atomic<int> done{0};
  auto id = call(pool, [](persistence::store& s) { return add_personal(s, 1); });
  REQUIRE(id.ok());
  for (int i = 0; i < 40; ++i) {
    pool.submit(
        io.get_executor(), [](persistence::store& s) { return s.unread_count(user(1), t0).unread; },
        [&](persistence::outcome<std::int64_t> o) {
          CHECK(o.ok());
          CHECK(o.value.value_or(-1) == 1);
          if (++done == 40) guard.reset();
        });
  }
  io.run_for(std::chrono::seconds(30));
  CHECK(done == 40);
  auto failed = call(pool, [](persistence::store&) -> int { throw std::runtime_error("boom"); });
  CHECK_FALSE(failed.ok());
  CHECK_FALSE(failed.unavailable);
  CHECK(failed.error == "boom");
}

TEST_CASE("a pool on an unreachable database answers unavailable", "[pool]") {
  persistence::store_pool pool("mysql://u:p@127.0.0.1:1/d", 1);
  auto o = call(pool, [](persistence::store& s) { return s.unread_count(user(1), t0).unread; });
  CHECK_FALSE(o.ok());
  CHECK(o.unavailable);
}

TEST_CASE("mysql: the pool survives a database restart", "[mysql][pool][restart]") {
  const char* dir = std::getenv("HERALD_MARIADB_DIR");
  auto b = fresh_mysql();
  if (!b) return;
  if (!dir || !*dir) {
    WARN("restart case skipped: HERALD_MARIADB_DIR is not set (run via with_mariadb.sh)");
    return;
  }
  persistence::store_pool pool(b->url(), 2);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(call(pool, [](persistence::store& s) { return add_personal(s, 1); }).ok());
  }
  REQUIRE(mariadb_script(std::string("herald_mariadb_halt ") + dir));
  for (int i = 0; i < 4; ++i) {
    auto down =
        call(pool, [](persistence::store& s) { return s.unread_count(user(1), t0).unread; });
    CHECK_FALSE(down.ok());
    CHECK(down.unavailable);
  }
  REQUIRE(mariadb_script(std::string("herald_mariadb_resume ") + dir));
  for (int i = 0; i < 4; ++i) {
    auto up = call(pool, [](persistence::store& s) { return s.unread_count(user(1), t0).unread; });
    REQUIRE(up.ok());
    CHECK(*up.value == 4);
  }
}
