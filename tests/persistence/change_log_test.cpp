// The change log behind state events: seqs, scopes, recovery listing, expiry once, purge.
// Every case runs on SQLite and on MySQL (see store_backends.hpp).
#include <chrono>
#include <set>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using persistence::change_type;
using persistence::removal_reason;

namespace {
std::int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}
}  // namespace

STORE_CASE("reads, deletes and read-alls are logged with increasing seqs for that user only",
           "[changes]") {
  auto s = b.open();
  const auto a = add_personal(*s, 1), c = add_personal(*s, 1), d = add_personal(*s, 1);
  add_personal(*s, 2);
  auto r = s->mark_read(user(1), a, t0);
  REQUIRE(r.change);
  CHECK(r.change->type == change_type::read);
  CHECK(r.change->id == a);
  CHECK(r.change->seq > d);
  CHECK_FALSE(s->mark_read(user(1), a, t0).change);  // already read: nothing logged
  auto del = s->remove_for_user(user(1), c, t0);
  REQUIRE(del.change);
  CHECK(del.change->type == change_type::removed);
  CHECK(del.change->reason == removal_reason::deleted);
  CHECK(del.change->seq > r.change->seq);
  CHECK(s->mark_all_read(user(1), t0) == 1);
  auto all = s->last_change();
  REQUIRE(all);
  CHECK(all->type == change_type::read_all);
  CHECK(all->id >= d);
  CHECK(all->seq > del.change->seq);
  CHECK(s->mark_all_read(user(1), t0) == 0);
  CHECK_FALSE(s->last_change());
  // Ids and seqs share one sequence: the next item comes after the last change.
  CHECK(add_personal(*s, 1) > all->seq);

  auto page = s->list_changes(user(1), 0, d, 100);
  REQUIRE(page.changes.size() == 3);
  CHECK(page.changes[0].seq == r.change->seq);
  CHECK(page.changes[1].seq == del.change->seq);
  CHECK(page.changes[2].seq == all->seq);
  CHECK_FALSE(page.more);
  CHECK_FALSE(page.reset);
  CHECK(s->list_changes(user(1), r.change->seq, d, 100).changes.size() == 2);
  CHECK(s->list_changes(user(2), 0, d + 100, 100).changes.empty());
  // Changes to items above max_id are left out (a read_all is not).
  auto low = s->list_changes(user(1), 0, a, 100);
  REQUIRE(low.changes.size() == 2);
  CHECK(low.changes[0].id == a);
  CHECK(low.changes[1].type == change_type::read_all);
  // Paging.
  auto first = s->list_changes(user(1), 0, d, 2);
  CHECK(first.changes.size() == 2);
  CHECK(first.more);
}

STORE_CASE("a retraction of a shared item is one change with one seq for every reader",
           "[changes]") {
  auto s = b.open();
  const auto bid = insert(*s, R"({"user_id":-1,"title":"all"})").items[0].id;
  const auto gid = insert(*s, R"({"audience":"org/1","title":"org"})").items[0].id;
  for (std::uint64_t u = 1; u <= 20; ++u) {
    if (u % 2) s->mark_read(user(u, {"org/1"}), bid, t0);
  }
  auto ref = s->retract(bid);
  REQUIRE(ref);
  CHECK(ref->seq > 0);
  // One seq was taken, not one per reader.
  CHECK(add_personal(*s, 99) == ref->seq + 1);
  std::set<std::uint64_t> seen;
  for (std::uint64_t u = 1; u <= 20; ++u) {
    auto page = s->list_changes(user(u), ref->seq - 1, bid, 100);
    REQUIRE(page.changes.size() == 1);
    CHECK(page.changes[0].type == change_type::removed);
    CHECK(page.changes[0].reason == removal_reason::retracted);
    seen.insert(page.changes[0].seq);
  }
  CHECK(seen.size() == 1);
  auto gref = s->retract(gid);
  REQUIRE(gref);
  CHECK(s->list_changes(user(3, {"org/1"}), ref->seq, gid, 100).changes.size() == 1);
  CHECK(s->list_changes(user(3, {"org/2"}), ref->seq, gid, 100).changes.empty());
  CHECK(s->list_changes(user(3), ref->seq, gid, 100).changes.empty());
}

STORE_CASE("an expiry is logged once whichever connection records it first", "[changes]") {
  auto s1 = b.open();
  auto s2 = b.open();
  const auto p = insert(*s1, R"({"user_id":5,"title":"brief","ttl_s":60})").items[0].id;
  const auto bid = insert(*s1, R"({"user_id":-1,"title":"brief","ttl_s":60})").items[0].id;
  insert(*s1, R"({"user_id":5,"title":"stays"})");
  auto first = s1->record_expiries(t0, t0 + 61'000, t0 + 61'000);
  REQUIRE(first.size() == 2);
  CHECK(first[0].id == p);
  CHECK(first[1].id == bid);
  auto again = s2->record_expiries(t0 + 30'000, t0 + 62'000, t0 + 62'000);
  REQUIRE(again.size() == 2);
  CHECK(again[0].seq == first[0].seq);
  CHECK(again[1].seq == first[1].seq);
  auto page = s2->list_changes(user(5), 0, bid, 100);
  REQUIRE(page.changes.size() == 2);
  CHECK(page.changes[0].reason == removal_reason::expired);
  CHECK(page.changes[1].reason == removal_reason::expired);
  CHECK(s1->list_changes(user(6), 0, bid, 100).changes.size() == 1);  // the broadcast only
  CHECK(s1->record_expiries(t0 + 62'000, t0 + 63'000, t0 + 63'000).empty());
}

STORE_CASE("a purge drops old changes and recovery from before it is a reset", "[changes]") {
  auto s = b.open();
  const auto a = add_personal(*s, 1), c = add_personal(*s, 1);
  const auto ra = s->mark_read(user(1), a, t0).change->seq;
  CHECK(s->purge_changes(wall_ms() + 1000, 500) == 1);
  const auto rc = s->mark_read(user(1), c, t0).change->seq;
  auto behind = s->list_changes(user(1), ra - 1, c, 100);
  CHECK(behind.reset);
  CHECK(behind.changes.empty());
  auto current = s->list_changes(user(1), ra, c, 100);
  CHECK_FALSE(current.reset);
  REQUIRE(current.changes.size() == 1);
  CHECK(current.changes[0].seq == rc);
  CHECK(s->purge_changes(wall_ms() - 86'400'000, 500) == 0);  // nothing that old
}

STORE_CASE("sync items carry the seq of their last read, else their id", "[changes]") {
  auto s = b.open();
  const auto a = add_personal(*s, 1), c = add_personal(*s, 1), d = add_personal(*s, 1);
  const auto ra = s->mark_read(user(1), a, t0).change->seq;
  s->mark_all_read(user(1), t0);
  const auto all = s->last_change()->seq;
  const auto e = add_personal(*s, 1);
  auto items = s->list_since(user(1), 0, 10, t0);
  s->annotate_seq(user(1), items);
  REQUIRE(items.size() == 4);
  CHECK(items[0].id == a);
  CHECK(items[0].seq == all);  // the read-all came after its own read
  CHECK(items[1].seq == all);
  CHECK(items[2].seq == all);
  CHECK(items[3].id == e);
  CHECK(items[3].seq == e);
  (void)ra, (void)c, (void)d;
}
