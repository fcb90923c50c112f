#include "persistence/notify_writer.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <set>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

STORE_CASE("the writer groups queued requests into batches and answers each after commit",
           "[writer]") {
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  std::vector<persistence::outcome<persistence::insert_result>> results(300);
  std::atomic<int> done{0};
  {
    persistence::notify_writer writer(b.url(), 64);
    for (int i = 0; i < 300; ++i) {
      const std::string key = i % 100 == 7 ? "same-key" : "key-" + std::to_string(i);
      writer.submit(request(R"({"user_id":)" + std::to_string(1 + i % 3) +
                            R"(,"title":"n","idempotency_key":")" + key + R"("})"),
                    io.get_executor(), [&, i](persistence::outcome<persistence::insert_result> o) {
                      results[i] = std::move(o);
                      if (++done == 300) guard.reset();
                    });
    }
    io.run_for(std::chrono::seconds(60));
    writer.stop();
    CHECK(writer.batches_written() < 300);
    CHECK(writer.rows_written() == 298);
  }
  REQUIRE(done == 300);
  std::set<std::uint64_t> ids;
  int duplicates = 0;
  for (auto& o : results) {
    REQUIRE(o.ok());
    if (o.value->duplicate) {
      ++duplicates;
      CHECK(o.value->previous_answer == results[7].value->answer);
    } else {
      REQUIRE(o.value->items.size() == 1);
      ids.insert(o.value->items[0].id);
    }
  }
  CHECK(duplicates == 2);
  CHECK(ids.size() == 298);
  auto s = b.open();
  std::int64_t total = 0;
  for (std::uint64_t u : {1, 2, 3}) total += s->unread_count(user(u), t0).unread;
  CHECK(total == 298);
}

TEST_CASE("a writer whose store cannot be reached fails every request as unavailable", "[writer]") {
  boost::asio::io_context io;
  std::atomic<int> unavailable{0};
  {
    persistence::notify_writer writer("sqlite:/nonexistent-dir/x/herald.db", 16);
    for (int i = 0; i < 5; ++i) {
      writer.submit(request(R"({"user_id":1,"title":"n"})"), io.get_executor(),
                    [&](persistence::outcome<persistence::insert_result> o) {
                      if (!o.ok() && o.unavailable) ++unavailable;
                    });
    }
    writer.stop();
  }
  io.run();
  CHECK(unavailable == 5);
}
