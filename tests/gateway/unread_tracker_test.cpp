#include "gateway/unread_tracker.hpp"

#include <catch2/catch.hpp>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

using herald::gateway::unread_tracker;

namespace {

// Records what the tracker asks the session to do.
struct recorder : unread_tracker::actions {
  std::vector<std::int64_t> counts;                            // count frames, in order
  std::vector<std::pair<std::uint64_t, std::int64_t>> pushed;  // notification id, unread after it
  int recounts = 0;
  std::int64_t last = -1;  // the count the client shows: the last count or notification frame
  void send_count(std::int64_t u) override { counts.push_back(u), last = u; }
  void send_notification(std::uint64_t id, const std::shared_ptr<const std::string>&,
                         std::int64_t u) override {
    pushed.emplace_back(id, u), last = u;
  }
  void start_recount() override { ++recounts; }
  void start_resync(std::uint64_t) override {}
};

const auto prefix = std::make_shared<const std::string>("{}");

}  // namespace

TEST_CASE("arrivals before the initial count are pushed once, counted only past the watermark",
          "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.on_notification(11, prefix);
  t.on_notification(9, prefix);
  CHECK(r.pushed.empty());  // nothing before the count
  t.loaded(3, 10, false);
  REQUIRE(r.counts == std::vector<std::int64_t>{3});
  REQUIRE(r.pushed.size() == 2);
  CHECK(r.pushed[0] == std::make_pair(std::uint64_t{9}, std::int64_t{3}));   // already in the count
  CHECK(r.pushed[1] == std::make_pair(std::uint64_t{11}, std::int64_t{4}));  // on top of it
  CHECK(r.recounts == 0);
}

TEST_CASE("with since, ids the sync covers are never pushed, early or late", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.on_notification(10, prefix);  // early, covered by the sync
  t.loaded(5, 10, true);
  t.on_notification(8, prefix);  // late event of an item the sync sent
  t.on_notification(10, prefix);
  t.on_notification(12, prefix);  // new
  REQUIRE(r.pushed.size() == 1);
  CHECK(r.pushed[0].first == 12);
  CHECK(r.pushed[0].second == 6);
  CHECK(t.duplicates() == 3);
  CHECK(t.resume_point() == 12);
}

TEST_CASE("an id delivered twice is sent once", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(0, 0, false);
  for (std::uint64_t id : {1, 2, 2, 3, 1, 3}) t.on_notification(id, prefix);
  REQUIRE(r.pushed.size() == 3);
  CHECK(r.pushed.back().second == 3);
}

TEST_CASE("a change before the initial count triggers one recount after it", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.on_count_changed();
  t.on_count_changed();
  CHECK(r.recounts == 0);
  t.loaded(4, 7, false);
  CHECK(r.recounts == 1);
  t.recounted(3, 7);
  CHECK(r.counts == std::vector<std::int64_t>{4, 3});
}

TEST_CASE("arrivals during a recount are added when its snapshot missed them", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(2, 5, false);
  t.on_count_changed();
  REQUIRE(r.recounts == 1);
  t.on_notification(6, prefix);  // included in the snapshot below
  t.on_notification(7, prefix);  // not included
  t.recounted(4, 6);             // the store counts 4 up to id 6; 7 comes on top
  CHECK(t.unread() == 5);
  CHECK(r.last == 5);
}

TEST_CASE("a change during a recount runs another one, and an unchanged count sends nothing",
          "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(2, 5, false);
  t.on_count_changed();
  t.on_count_changed();  // during
  CHECK(r.recounts == 1);
  t.recounted(2, 5);
  CHECK(r.recounts == 2);
  CHECK(r.counts.size() == 1);  // 2 again: no frame
  t.recounted(1, 5);
  CHECK(r.counts.back() == 1);
}

// A model of the store and the bus: items commit with increasing ids; their events reach the
// tracker in commit order but late; reads and deletes publish count changes that also arrive
// late; a recount's snapshot is taken at a random moment between its start and its answer.
// Whatever the interleaving, once everything is delivered the client shows the true count.
TEST_CASE("seeded interleavings always end on the true count", "[unread_tracker]") {
  for (std::uint32_t seed = 1; seed <= 400; ++seed) {
    std::mt19937 rng(seed);
    recorder r;
    unread_tracker t(r);
    std::map<std::uint64_t, bool> unread_items;  // id -> unread
    std::uint64_t next_id = 1;
    auto true_count = [&] {
      std::int64_t n = 0;
      for (auto& [id, u] : unread_items) n += u ? 1 : 0;
      return n;
    };
    struct snap {
      std::int64_t unread;
      std::uint64_t wm;
    };
    auto snapshot = [&] { return snap{true_count(), next_id - 1}; };
    for (int i = 0; i < 5; ++i) unread_items[next_id++] = true;  // history before connect
    std::deque<std::uint64_t> notifications;                     // in commit order
    int changes = 0;                                             // count_changed events in flight
    std::optional<snap> initial;  // the initial count: snapshot taken, not yet answered
    bool loaded = false;
    int recounts_answered = 0;
    std::optional<snap> recount_snap;
    for (int step = 0; step < 300; ++step) {
      const int op = static_cast<int>(rng() % 9);
      if (op == 0 || op == 1) {  // a new item commits
        unread_items[next_id] = true;
        notifications.push_back(next_id++);
      } else if (op == 2 && !unread_items.empty()) {  // read or delete a random item
        auto it = unread_items.begin();
        std::advance(it, rng() % unread_items.size());
        if (it->second) {
          if (rng() % 2) {
            it->second = false;
          } else {
            unread_items.erase(it);
          }
          ++changes;
        }
      } else if (op == 3 && !notifications.empty()) {
        t.on_notification(notifications.front(), prefix);
        notifications.pop_front();
      } else if (op == 4 && changes > 0) {
        --changes;
        t.on_count_changed();
      } else if (op == 5 && !loaded) {
        if (!initial) {
          initial = snapshot();
        } else {
          t.loaded(initial->unread, initial->wm, false);
          loaded = true;
        }
      } else if (op == 6 && r.recounts > recounts_answered && !recount_snap) {
        recount_snap = snapshot();
      } else if (op == 7 && recount_snap) {
        ++recounts_answered;
        auto s = *recount_snap;
        recount_snap.reset();
        t.recounted(s.unread, s.wm);
      }
    }
    // Quiesce: the initial count, every event, every recount.
    if (!loaded) {
      if (!initial) initial = snapshot();
      t.loaded(initial->unread, initial->wm, false);
    }
    for (;;) {
      bool any = false;
      while (!notifications.empty()) {
        t.on_notification(notifications.front(), prefix), notifications.pop_front(), any = true;
      }
      while (changes > 0) --changes, t.on_count_changed(), any = true;
      if (r.recounts > recounts_answered) {
        if (!recount_snap) recount_snap = snapshot();
        ++recounts_answered;
        auto s = *recount_snap;
        recount_snap.reset();
        t.recounted(s.unread, s.wm);
        any = true;
      }
      if (!any) break;
    }
    INFO("seed " << seed);
    REQUIRE(r.last == true_count());
  }
}

TEST_CASE("a resync sends the missed items, then what arrived meanwhile, in id order",
          "[unread_tracker]") {
  struct resync_recorder : recorder {
    std::vector<std::uint64_t> resyncs_from;
    void start_resync(std::uint64_t from) override { resyncs_from.push_back(from); }
  } r;
  unread_tracker t(r);
  t.loaded(1, 10, false);
  t.on_notification(11, prefix);
  t.on_resync();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11});
  t.on_notification(16, prefix);  // live, during the resync: held
  t.on_resync();                  // another outage meanwhile: once more afterwards
  CHECK(r.pushed.size() == 1);
  t.resynced(4, 15, {{12, prefix}, {14, prefix}, {11, prefix}}, false);
  std::vector<std::uint64_t> ids;
  for (auto& p : r.pushed) ids.push_back(p.first);
  // 16 waits for the second read: the second outage may have lost an item before it.
  CHECK(ids == std::vector<std::uint64_t>{11, 12, 14});
  CHECK(r.last == 4);
  REQUIRE(r.resyncs_from.size() == 2);
  CHECK(r.resyncs_from[1] == 14);
  t.resynced(6, 16, {{15, prefix}, {16, prefix}}, false);
  ids.clear();
  for (auto& p : r.pushed) ids.push_back(p.first);
  CHECK(ids == std::vector<std::uint64_t>{11, 12, 14, 15, 16});
  CHECK(t.unread() == 6);
  CHECK(r.last == 6);
  CHECK(r.resyncs_from.size() == 2);
  t.on_notification(17, prefix);  // the bus is back: live again
  CHECK(r.pushed.back() == std::pair<std::uint64_t, std::int64_t>{17, 7});
}

TEST_CASE("a resync asked for during the initial load runs after it", "[unread_tracker]") {
  struct resync_recorder : recorder {
    int resyncs = 0;
    void start_resync(std::uint64_t) override { ++resyncs; }
  } r;
  unread_tracker t(r);
  t.on_resync();
  CHECK(r.resyncs == 0);
  t.loaded(0, 3, false);
  CHECK(r.resyncs == 1);
}

namespace {

struct outage_recorder : recorder {
  std::vector<std::uint64_t> resyncs_from;
  void start_resync(std::uint64_t from) override { resyncs_from.push_back(from); }
  std::vector<std::uint64_t> ids() const {
    std::vector<std::uint64_t> out;
    for (auto& p : pushed) out.push_back(p.first);
    return out;
  }
};

}  // namespace

TEST_CASE("while the bus is down, a live arrival goes out through the store with what it overtook",
          "[unread_tracker]") {
  outage_recorder r;
  unread_tracker t(r);
  t.loaded(2, 10, false);
  t.on_notification(11, prefix);  // live: pushed at once
  t.on_bus_lost();
  CHECK(t.bus_lost());
  t.on_notification(13, prefix);  // another node's 12 was lost on the bus: read the store
  CHECK(r.ids() == std::vector<std::uint64_t>{11});
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11});
  t.on_notification(15, prefix);  // during the read: held
  t.resynced(5, 13, {{12, prefix}, {13, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 13});
  // 15 is past that read's snapshot and 14 may be lost too: one more read, 15 waits for it.
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11, 13});
  t.resynced(7, 15, {{14, prefix}, {15, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 13, 14, 15});
  CHECK(r.last == 7);
  CHECK(r.resyncs_from.size() == 2);  // nothing held: no read
  // The bus returns: one read from the resume point (the repair); arrivals still go through
  // the store until the bus has settled (other nodes' publishers may still be away).
  t.on_resync();
  CHECK(t.bus_lost());
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11, 13, 15});
  t.on_notification(18, prefix);  // held during the read
  t.resynced(9, 17, {{16, prefix}, {17, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 13, 14, 15, 16, 17});
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11, 13, 15, 17});
  t.resynced(10, 18, {{18, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 13, 14, 15, 16, 17, 18});
  CHECK(r.last == 10);
  t.on_bus_back();
  CHECK_FALSE(t.bus_lost());
  t.on_notification(19, prefix);  // live again: pushed at once, counted on top
  CHECK(r.ids().back() == 19);
  CHECK(r.last == 11);
  CHECK(r.resyncs_from.size() == 4);
}

TEST_CASE("a repair while the bus is up pushes the missed items, then what arrived meanwhile",
          "[unread_tracker]") {
  // Another node's publisher was away while this node's subscription stayed up.
  outage_recorder r;
  unread_tracker t(r);
  t.loaded(0, 10, false);
  t.on_notification(11, prefix);
  t.on_resync();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{11});
  t.on_notification(15, prefix);  // held during the read
  t.resynced(3, 14, {{12, prefix}, {14, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 14, 15});
  CHECK(r.last == 4);
  CHECK(r.resyncs_from.size() == 1);
}

TEST_CASE("during an outage a failed read pushes nothing; the return reads from the same point",
          "[unread_tracker]") {
  outage_recorder r;
  unread_tracker t(r);
  t.loaded(0, 10, false);
  t.on_bus_lost();
  t.on_notification(12, prefix);
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{10});
  t.resync_failed();  // the store is down too
  CHECK(r.pushed.empty());
  t.on_resync();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{10, 10});
  t.resynced(2, 12, {{11, prefix}, {12, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12});
  CHECK(r.last == 2);
  // Failed again, then the bus settles: the held arrival goes out through one more read.
  t.on_notification(13, prefix);
  t.resync_failed();
  t.on_bus_back();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{10, 10, 12, 12});
  t.resynced(3, 13, {{13, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11, 12, 13});
}

TEST_CASE("a repair that failed during the outage runs again when the bus settles",
          "[unread_tracker]") {
  outage_recorder r;
  unread_tracker t(r);
  t.loaded(0, 10, false);
  t.on_bus_lost();
  t.on_resync();  // the subscription is back; the store is slow: the read fails
  t.resync_failed();
  CHECK(r.resyncs_from == std::vector<std::uint64_t>{10});
  t.on_bus_back();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{10, 10});
  t.resynced(1, 11, {{11, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{11});
  t.on_bus_back();  // nothing failed, nothing held: no read
  CHECK(r.resyncs_from.size() == 2);
}

TEST_CASE(
    "a connection opened during an outage pushes what its load counted, the rest through the store",
    "[unread_tracker]") {
  outage_recorder r;
  unread_tracker t(r);
  t.on_bus_lost();                // the registry tells new sessions too
  t.on_notification(9, prefix);   // before the count's snapshot: pushed as on any load
  t.on_notification(12, prefix);  // after it
  t.loaded(3, 10, false);
  CHECK(r.counts == std::vector<std::int64_t>{3});
  CHECK(r.ids() == std::vector<std::uint64_t>{9});
  // The read starts at the count's watermark: the inbox's older items are never pushed.
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{10});
  t.resynced(5, 12, {{11, prefix}, {12, prefix}}, false);
  CHECK(r.ids() == std::vector<std::uint64_t>{9, 11, 12});
  CHECK(r.last == 5);
}

TEST_CASE("an outage repair pages through a full page before anything held goes out",
          "[unread_tracker]") {
  outage_recorder r;
  unread_tracker t(r);
  t.loaded(0, 100, false);
  t.on_bus_lost();
  t.on_bus_back();
  t.on_resync();
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{100});
  t.on_notification(300, prefix);  // held
  std::vector<unread_tracker::item> page;
  for (std::uint64_t id = 101; id <= 200; ++id) page.emplace_back(id, prefix);
  t.resynced(150, 250, page, true);
  CHECK(r.ids().size() == 100);
  CHECK(r.ids().back() == 200);
  REQUIRE(r.resyncs_from == std::vector<std::uint64_t>{100, 200});
  page.clear();
  for (std::uint64_t id = 201; id <= 250; ++id) page.emplace_back(id, prefix);
  t.resynced(150, 250, page, false);
  auto ids = r.ids();
  REQUIRE(ids.size() == 151);
  CHECK(ids.back() == 300);
  CHECK(std::is_sorted(ids.begin(), ids.end()));
  CHECK(r.last == 151);
}

TEST_CASE("a recount waits for the state frames of the changes it reflects",
          "[unread_tracker][seq]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(5, 100, false);
  CHECK(t.seqs_after() == 100);  // changes before the connection's count owe no frame
  t.on_state(101);               // the first read's frame went out
  t.on_count_changed();
  REQUIRE(r.recounts == 1);
  // The store already reflects a second read (seq 103) whose frame has not come yet.
  t.recounted(3, 104, {101, 103});
  CHECK(r.counts == std::vector<std::int64_t>{5});
  CHECK(t.counts_held() == 1);
  t.on_notification(105, prefix);  // an arrival meanwhile is pushed on the count it had
  t.on_state(103);
  CHECK(r.counts == std::vector<std::int64_t>{5, 4});  // 3 from the store + 105 on top
  CHECK(t.seqs_after() == 104);
  // A later recount with nothing new to wait for goes out at once.
  t.on_count_changed();
  t.recounted(4, 106, {});
  CHECK(r.counts == std::vector<std::int64_t>{5, 4});  // unchanged: no frame
  t.on_count_changed();
  t.recounted(2, 107, {107});
  CHECK(r.counts.size() == 2);
}

TEST_CASE(
    "a state frame seen before the recount answer frees it at once; a lost one after two "
    "ticks",
    "[unread_tracker][seq]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(4, 10, false);
  t.on_state(12);
  t.on_count_changed();
  t.recounted(3, 12, {12});
  CHECK(r.counts == std::vector<std::int64_t>{4, 3});
  t.on_count_changed();
  t.recounted(2, 14, {13});  // 13's frame never comes (lost with the bus, say)
  t.on_tick();
  CHECK(r.counts.size() == 2);
  t.on_tick();
  CHECK(r.counts == std::vector<std::int64_t>{4, 3, 2});
  // A count change during the hold recounts again after it.
  t.on_count_changed();
  t.recounted(1, 16, {15});
  t.on_count_changed();
  CHECK(r.recounts == 3);
  t.on_state(15);
  CHECK(r.counts.back() == 1);
  CHECK(r.recounts == 4);
}

TEST_CASE("a lost bus releases a held count", "[unread_tracker][seq]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(2, 10, false);
  t.on_count_changed();
  t.recounted(1, 11, {11});
  CHECK(r.counts.size() == 1);
  t.on_bus_lost();
  CHECK(r.counts == std::vector<std::int64_t>{2, 1});
}

TEST_CASE("a sync page the client asked for is not pushed again, and counts what was not sent",
          "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(5, 10, true);  // the connect sync covered up to 10 (its first page up to 4: more)
  t.on_notification(11, prefix);
  t.on_notification(12, prefix);
  REQUIRE(r.pushed.size() == 2);
  CHECK(r.last == 7);
  // The page after 4 lists everything up to 14: 5..10 synced, 11 and 12 came live, 13 and 14
  // were still on their way.
  t.page_sent(4, {5, 6, 7, 8, 9, 10, 11, 12, 13, 14});
  REQUIRE(r.counts == std::vector<std::int64_t>{5, 9});  // 13 and 14 counted, once
  for (std::uint64_t id : {13, 14, 12}) t.on_notification(id, prefix);
  t.on_notification(15, prefix);
  REQUIRE(r.pushed.size() == 3);
  CHECK(r.pushed.back() == std::make_pair(std::uint64_t{15}, std::int64_t{10}));
  CHECK(t.resume_point() == 15);
}

TEST_CASE("a sync page within what was sent, or past a gap, changes nothing", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(2, 10, false);
  t.on_notification(11, prefix);
  t.page_sent(0, {9, 10, 11});  // nothing past what was sent: no count frame
  CHECK(r.counts == std::vector<std::int64_t>{2});
  // A page that does not follow on (the client skipped 12..19): 20 is still pushed.
  t.page_sent(19, {20});
  t.on_notification(12, prefix);
  t.on_notification(20, prefix);
  REQUIRE(r.pushed.size() == 3);
  CHECK(r.pushed.back().first == 20);
  CHECK(r.counts == std::vector<std::int64_t>{2});
}

TEST_CASE("what a connection holds while something is pending is freed when it is over",
          "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  CHECK(t.idle());
  t.on_notification(11, prefix);  // early: held until the count
  CHECK_FALSE(t.idle());          // positive control: held arrivals are state
  t.loaded(3, 10, false);
  CHECK(t.idle());
  t.on_count_changed();
  t.on_notification(12, prefix);  // during the recount: remembered to count on top
  CHECK_FALSE(t.idle());
  t.recounted(4, 11);
  CHECK(r.last == 5);  // 4 from the store, 12 on top: what the client shows already
  CHECK(t.idle());
  t.on_state(20);  // a state seq above the floor is remembered until a count covers it
  CHECK_FALSE(t.idle());
  t.on_count_changed();
  t.recounted(5, 20);
  CHECK(t.idle());
}

TEST_CASE("an out-of-order id is sent unless it is one of the last sent", "[unread_tracker]") {
  recorder r;
  unread_tracker t(r);
  t.loaded(0, 0, false);
  for (std::uint64_t id : {5, 7, 6, 7, 5}) t.on_notification(id, prefix);
  REQUIRE(r.pushed.size() == 3);  // 5, 7, then the late 6; the repeats of 7 and 5 are dropped
  CHECK(r.pushed[2].first == 6);
  // Far apart ids (2^32, the range of the distances remembered) are told apart.
  const std::uint64_t big = (std::uint64_t{1} << 32) + 3;
  t.on_notification(big, prefix);
  t.on_notification(3, prefix);  // another id than 2^32 + 3: sent
  REQUIRE(r.pushed.size() == 5);
  CHECK(r.pushed[4].first == 3);
  t.on_notification(big, prefix);  // the highest sent: refused
  CHECK(r.pushed.size() == 5);
  t.on_notification(big + 7, prefix);
  t.on_notification(big + 2, prefix);  // never sent, out of order: sent
  REQUIRE(r.pushed.size() == 7);
  CHECK(r.pushed[6].first == big + 2);
  t.on_notification(big + 2, prefix);  // now a repeat
  t.on_notification(big, prefix);      // still remembered, 7 below the highest
  CHECK(r.pushed.size() == 7);
  // An unused slot matches nothing (an out-of-order id 2^32 is not taken for a repeat).
  recorder r2;
  unread_tracker t2(r2);
  t2.loaded(0, 0, false);
  t2.on_notification((std::uint64_t{1} << 32) + 5, prefix);
  t2.on_notification(std::uint64_t{1} << 32, prefix);
  CHECK(r2.pushed.size() == 2);
}
