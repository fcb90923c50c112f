// Batched reads: read_batch answers several viewers from one statement exactly as one call per
// viewer would, and the read batcher answers every queued request (also when the store is down).
#include "persistence/read_batcher.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using persistence::inbox_query;
using persistence::read_request;

namespace {

std::vector<std::uint64_t> ids_of(const persistence::inbox_page& p) {
  std::vector<std::uint64_t> out;
  for (const auto& n : p.items) out.push_back(n.id);
  return out;
}

// A mix of personal, broadcast and group items with per-user reads and deletes.
void seed(persistence::store& s) {
  for (int i = 0; i < 7; ++i) add_personal(s, 1);
  for (int i = 0; i < 3; ++i) add_personal(s, 2);
  const auto b1 = insert(s, R"({"user_id":-1,"title":"everyone 1"})").items[0].id;
  insert(s, R"({"audience":"org/1","title":"org 1"})");
  const auto g2 = insert(s, R"({"audience":"org/2/role/3","title":"org 2 role 3"})").items[0].id;
  for (int i = 0; i < 4; ++i) add_personal(s, 1);
  insert(s, R"({"user_id":-1,"title":"everyone 2"})");
  REQUIRE(s.mark_read(user(1, {"org/1"}), b1, t0).changed);
  REQUIRE(s.remove_for_user(user(2, {"org/2", "role/3"}), g2, t0).changed);
  REQUIRE(s.remove_for_user(user(3), b1, t0).changed);
}

}  // namespace

STORE_CASE("one read batch answers every viewer as separate calls would", "[reads]") {
  auto s = b.open();
  seed(*s);
  inbox_query small;
  small.limit = 3;
  inbox_query unread_personal;
  unread_personal.unread_only = true;
  unread_personal.kind = proto::item_kind::personal;
  inbox_query broadcasts;
  broadcasts.kind = proto::item_kind::broadcast;
  const std::vector<read_request> reads{
      {user(1, {"org/1"}), std::nullopt},
      {user(1, {"org/1"}), inbox_query{}},
      {user(1), small},  // the same user without the group: the org item is not theirs
      {user(2, {"org/2", "role/3"}), unread_personal},
      {user(2, {"org/2", "role/3"}), std::nullopt},
      {user(3), broadcasts},
      {user(4, {"org/2", "role/3"}), inbox_query{}},  // nothing personal, no state at all
  };
  const auto batch = s->read_batch(reads, t0);
  REQUIRE(batch.size() == reads.size());
  for (std::size_t i = 0; i < reads.size(); ++i) {
    INFO("read " << i);
    const auto alone = s->read_batch({reads[i]}, t0)[0];
    const auto count = s->unread_count(reads[i].who, t0);
    CHECK(batch[i].counts.unread == count.unread);
    CHECK(alone.counts.unread == count.unread);
    CHECK(batch[i].counts.watermark == count.watermark);
    if (reads[i].page) {
      const auto page = s->list_inbox(reads[i].who, *reads[i].page, t0);
      CHECK(ids_of(batch[i].page) == ids_of(page));
      CHECK(batch[i].page.next_before == page.next_before);
      CHECK(batch[i].page.unread == count.unread);
    }
  }
  // The expected values themselves: user 1 read the first broadcast and has 11 personal items.
  CHECK(batch[0].counts.unread == 11 + 2);  // + org 1 item and the second broadcast
  CHECK(batch[2].counts.unread == 11 + 1);
  CHECK(batch[2].page.items.size() == 3);
  CHECK(batch[1].page.items.size() == 14);
  CHECK(batch[3].page.items.size() == 3);
  CHECK(batch[4].counts.unread == 3 + 2);  // deleted its group item
  CHECK(batch[5].page.items.size() == 1);  // deleted the first broadcast
  CHECK(batch[6].counts.unread == 3);      // both broadcasts and the group item
  CHECK(batch[6].page.items.size() == 3);
  CHECK(batch[0].counts.watermark > 0);
}

STORE_CASE("the read batcher answers concurrent requests from several threads", "[reads]") {
  {
    auto s = b.open();
    seed(*s);
  }
  boost::asio::io_context io;
  auto guard = boost::asio::make_work_guard(io);
  constexpr int per_thread = 150, threads = 4;
  std::atomic<int> done{0}, wrong{0};
  {
    persistence::read_batcher readers(b.url(), 2, 16, [] { return t0; });
    std::vector<std::thread> submitters;
    for (int t = 0; t < threads; ++t) {
      submitters.emplace_back([&, t] {
        for (int i = 0; i < per_thread; ++i) {
          const bool first = (i + t) % 2 == 0;
          std::optional<inbox_query> page;
          if (i % 3 == 0) page = inbox_query{};
          readers.submit({first ? user(1, {"org/1"}) : user(2), page}, io.get_executor(),
                         [&, first, page](persistence::outcome<persistence::read_result> o) {
                           const std::int64_t want = first ? 13 : 3 + 2;  // + broadcasts
                           if (!o.ok() || o.value->counts.unread != want ||
                               (page && o.value->page.unread != want) ||
                               (page && o.value->page.items.size() != (first ? 14u : 5u))) {
                             ++wrong;
                           }
                           if (++done == per_thread * threads) guard.reset();
                         });
        }
      });
    }
    for (auto& t : submitters) t.join();
    io.run_for(std::chrono::seconds(60));
    CHECK(readers.reads() == per_thread * threads);
    CHECK(readers.batches() < readers.reads());  // queued reads were answered together
  }
  CHECK(done == per_thread * threads);
  CHECK(wrong == 0);
}

TEST_CASE("a read batcher whose store cannot be reached answers unavailable", "[reads]") {
  boost::asio::io_context io;
  std::atomic<int> unavailable{0};
  {
    persistence::read_batcher readers("sqlite:/nonexistent-dir/x/herald.db", 2, 16,
                                      [] { return t0; });
    for (int i = 0; i < 5; ++i) {
      readers.submit({user(1), std::nullopt}, io.get_executor(),
                     [&](persistence::outcome<persistence::read_result> o) {
                       if (!o.ok() && o.unavailable) ++unavailable;
                     });
    }
    readers.stop();
  }
  io.run();
  CHECK(unavailable == 5);
}
