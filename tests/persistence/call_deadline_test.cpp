#include "persistence/call_deadline.hpp"

#include <sqlite3.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <thread>

#include "persistence/notify_writer.hpp"
#include "persistence/read_batcher.hpp"
#include "persistence/store_pool.hpp"
#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

// Holds SQLite's write lock on a database file until destroyed: the writer's next transaction
// waits in the driver, as on a frozen database.
struct write_lock {
  sqlite3* db = nullptr;
  explicit write_lock(const std::string& url) {
    REQUIRE(sqlite3_open(url.substr(7).c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  void release() {
    if (db) sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    db = nullptr;
  }
  ~write_lock() { release(); }
};

}  // namespace

TEST_CASE("a pool call past its deadline is answered then, and one still queued never runs",
          "[deadline]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  persistence::store_pool pool(b->url(), 1, 200ms);
  std::atomic<bool> second_ran{false};
  persistence::failure first = persistence::failure::none, second = first;
  clock_type::time_point first_at, second_at;
  const auto start = clock_type::now();
  int answered = 0;
  pool.submit(
      io.get_executor(),
      [](persistence::store&) {
        std::this_thread::sleep_for(700ms);  // a driver call stuck on the database
        return 1;
      },
      [&](persistence::outcome<int> o) {
        first = o.why;
        first_at = clock_type::now();
        if (++answered == 2) guard.reset();
      });
  pool.submit(
      io.get_executor(), [&](persistence::store&) { return second_ran = true; },
      [&](persistence::outcome<bool> o) {
        second = o.why;
        second_at = clock_type::now();
        if (++answered == 2) guard.reset();
      });
  io.run_for(5s);
  REQUIRE(answered == 2);
  CHECK(first == persistence::failure::in_doubt);
  CHECK(second == persistence::failure::timed_out);
  CHECK(first_at - start < 600ms);  // at the deadline, not when the call came back
  CHECK(second_at - start < 600ms);
  pool.stop();
  CHECK_FALSE(second_ran);
  CHECK(pool.timed_out() == 2);
}

TEST_CASE("a pool call within its deadline is answered with its value", "[deadline]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  persistence::store_pool pool(b->url(), 1, 2000ms);
  std::optional<int> got;
  pool.submit(
      io.get_executor(), [](persistence::store&) { return 7; },
      [&](persistence::outcome<int> o) {
        got = o.value;
        guard.reset();
      });
  io.run_for(3s);
  REQUIRE(got);
  CHECK(*got == 7);
  CHECK(pool.timed_out() == 0);
}

TEST_CASE("a patient pool call gets four times the deadline", "[deadline]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  persistence::store_pool pool(b->url(), 1, 100ms);
  std::optional<int> got;
  pool.submit_patient(
      io.get_executor(),
      [](persistence::store&) {
        std::this_thread::sleep_for(200ms);  // past the plain deadline, within the patient one
        return 3;
      },
      [&](persistence::outcome<int> o) {
        got = o.value;
        guard.reset();
      });
  io.run_for(3s);
  REQUIRE(got);
  CHECK(*got == 3);
}

TEST_CASE("the writer answers at the deadline; a request still queued then is not stored",
          "[deadline][writer]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  std::vector<persistence::outcome<persistence::insert_result>> out(2);
  int answered = 0;
  {
    write_lock lock(b->url());
    persistence::notify_writer writer(b->url(), 1, 100, 300ms);
    auto submit = [&](int i, const char* key) {
      writer.submit(
          request(std::string(R"({"user_id":1,"title":"t","idempotency_key":")") + key + "\"}"),
          io.get_executor(), [&, i](persistence::outcome<persistence::insert_result> o) {
            out[i] = std::move(o);
            if (++answered == 2) guard.reset();
          });
    };
    const auto start = clock_type::now();
    submit(0, "running");  // its batch waits for the lock
    std::this_thread::sleep_for(50ms);
    submit(1, "queued");  // behind it (batches of one)
    io.run_for(5s);
    CHECK(clock_type::now() - start < 1500ms);
    REQUIRE(answered == 2);
    CHECK(out[0].why == persistence::failure::in_doubt);
    CHECK(out[1].why == persistence::failure::timed_out);
    CHECK(out[0].unavailable);
    lock.release();  // the running batch commits now; its answer is discarded
    writer.stop();
    CHECK(writer.timed_out() == 2);
  }
  auto s = b->open();
  // The request answered in doubt did commit; the queued one was dropped.
  CHECK(insert(*s, R"({"user_id":1,"title":"t","idempotency_key":"running"})").duplicate);
  CHECK_FALSE(insert(*s, R"({"user_id":1,"title":"t","idempotency_key":"queued"})").duplicate);
}

TEST_CASE("past its queue bound the writer refuses at once, storing nothing",
          "[deadline][writer]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  constexpr int n = 10;
  std::vector<persistence::outcome<persistence::insert_result>> out(n);
  std::vector<clock_type::duration> took(n);
  int answered = 0;
  {
    write_lock lock(b->url());
    persistence::notify_writer writer(b->url(), 1, 3, 2000ms);
    for (int i = 0; i < n; ++i) {
      const auto at = clock_type::now();
      writer.submit(
          request(R"({"user_id":1,"title":"t","idempotency_key":"k)" + std::to_string(i) + "\"}"),
          io.get_executor(), [&, i, at](persistence::outcome<persistence::insert_result> o) {
            out[i] = std::move(o);
            took[i] = clock_type::now() - at;
            if (++answered == n) guard.reset();
          });
      if (i == 0) std::this_thread::sleep_for(50ms);  // the first one's batch is running
    }
    io.run_for(200ms);
    int refused = 0;
    for (int i = 0; i < n; ++i) {
      if (out[i].why == persistence::failure::overloaded) {
        ++refused;
        CHECK(took[i] < 150ms);
      }
    }
    CHECK(refused == n - 4);  // one running, three queued
    CHECK(writer.refused() == static_cast<std::uint64_t>(n - 4));
    lock.release();
    io.restart();
    io.run_for(5s);
    writer.stop();
  }
  REQUIRE(answered == n);
  auto s = b->open();
  for (int i = 0; i < n; ++i) {
    const bool refused = out[i].why == persistence::failure::overloaded;
    CHECK(refused != out[i].ok());
    const auto again =
        insert(*s, R"({"user_id":1,"title":"t","idempotency_key":"k)" + std::to_string(i) + "\"}");
    CHECK(again.duplicate == !refused);  // refused requests stored nothing
  }
}

TEST_CASE("past its queue bound the read batcher refuses at once", "[deadline][reader]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  auto b = fresh_sqlite();
  persistence::read_batcher readers(
      b->url(), 1, 1, [] { return t0; }, 2, 2000ms);
  int refused = 0, answered = 0;
  for (int i = 0; i < 50; ++i) {
    readers.submit({user(1), std::nullopt}, io.get_executor(),
                   [&](persistence::outcome<persistence::read_result> o) {
                     if (o.why == persistence::failure::overloaded) ++refused;
                     if (++answered == 50) guard.reset();
                   });
  }
  io.run_for(10s);
  REQUIRE(answered == 50);
  CHECK(refused > 0);  // 50 submitted at once against a queue of 2
  CHECK(readers.refused() == static_cast<std::uint64_t>(refused));
}
