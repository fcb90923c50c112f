// Store conformance, part 1: storing, reading, visibility, audiences, paging, marks.
// Every case runs on SQLite and on MySQL (see store_backends.hpp).
#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "persistence/sql_store.hpp"
#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using persistence::inbox_query;

STORE_CASE("migrate is idempotent and safe from several nodes at once", "") {
  auto s = b.open();
  dynamic_cast<persistence::sql_store&>(*s).drop_schema();
  std::vector<std::thread> nodes;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    nodes.emplace_back([&] {
      try {
        b.open()->migrate();
      } catch (...) {
        ++failures;
      }
    });
  }
  for (auto& t : nodes) t.join();
  CHECK(failures == 0);
  s->migrate();
  const auto id = add_personal(*s, 1);
  CHECK(id == 1);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  s->ping();
}

STORE_CASE("a personal item round-trips every field", "") {
  auto s = b.open();
  auto r = insert(*s, R"({"user_id":42,"title":"Order shipped 📦","content":"第7号",)"
                      R"("sender":"orders","data":{"order":7},"desktop":false,"ttl_s":3600})");
  REQUIRE(r.items.size() == 1);
  CHECK_FALSE(r.duplicate);
  const auto id = r.items[0].id;
  CHECK(r.answer == R"({"id":)" + std::to_string(id) + R"(,"online":0})");
  auto page = s->list_inbox(user(42), {}, t0);
  REQUIRE(page.items.size() == 1);
  const auto& n = page.items[0];
  CHECK(n.id == id);
  CHECK(n.kind == proto::item_kind::personal);
  CHECK(n.user_id == 42);
  CHECK(n.title == "Order shipped 📦");
  CHECK(n.content == "第7号");
  REQUIRE(n.sender);
  CHECK(*n.sender == "orders");
  CHECK(n.data_json == R"({"order":7})");
  CHECK(n.created_at_ms == t0);
  REQUIRE(n.expires_at_ms);
  CHECK(*n.expires_at_ms == t0 + 3600 * 1000);
  CHECK(n.keep == proto::retention::normal);
  CHECK_FALSE(n.desktop);
  CHECK_FALSE(n.read);
  CHECK(page.unread == 1);
  CHECK_FALSE(page.next_before);
}

STORE_CASE("absent optional fields come back absent and the default ttl applies", "") {
  auto s = b.open();
  auto r = insert(*s, R"({"user_id":5,"title":"t"})");
  auto got = s->get(user(5), r.items[0].id, false, t0);
  REQUIRE(got.item);
  CHECK(got.item->content.empty());
  CHECK_FALSE(got.item->sender);
  CHECK(got.item->data_json.empty());
  CHECK(got.item->desktop);
  REQUIRE(got.item->expires_at_ms);
  CHECK(*got.item->expires_at_ms == t0 + default_ttl_s * 1000);
}

STORE_CASE("ids increase across a batch and user_ids store one row per user in order", "") {
  auto s = b.open();
  std::vector<persistence::insert_request> batch{
      request(R"({"user_id":1,"title":"a"})"),
      request(R"({"user_ids":[9,3,7],"title":"b"})", t0, 2),
      request(R"({"user_id":-1,"title":"c"})"),
  };
  auto results = s->insert_batch(batch);
  REQUIRE(results.size() == 3);
  REQUIRE(results[1].items.size() == 3);
  const auto a = results[0].items[0].id;
  CHECK(results[1].items[0].id == a + 1);
  CHECK(results[1].items[0].user_id == 9);
  CHECK(results[1].items[1].user_id == 3);
  CHECK(results[1].items[2].user_id == 7);
  CHECK(results[2].items[0].id == a + 4);
  CHECK(results[2].items[0].kind == proto::item_kind::broadcast);
  CHECK(results[1].answer == R"({"ids":[)" + std::to_string(a + 1) + "," + std::to_string(a + 2) +
                                 "," + std::to_string(a + 3) + R"(],"online":2})");
  for (std::uint64_t u : {9, 3, 7}) CHECK(s->unread_count(user(u), t0).unread == 2);
  auto later = insert(*s, R"({"user_id":1,"title":"d"})");
  CHECK(later.items[0].id == a + 5);
  CHECK(s->unread_count(user(1), t0).watermark == a + 5);
}

STORE_CASE("a broadcast reaches every user, one row whatever the audience", "") {
  auto s = b.open();
  auto r = insert(*s, R"({"user_id":-1,"title":"maintenance"})");
  const auto id = r.items[0].id;
  for (std::uint64_t u : {1, 2, 1000000}) {
    auto page = s->list_inbox(user(u), {}, t0);
    REQUIRE(page.items.size() == 1);
    CHECK(page.items[0].id == id);
    CHECK(page.items[0].kind == proto::item_kind::broadcast);
    CHECK(page.unread == 1);
  }
  CHECK(s->stats(t0).notifications_stored == 1);
  // Reading it is per user.
  CHECK(s->mark_read(user(1), id, t0).changed);
  CHECK(s->unread_count(user(1), t0).unread == 0);
  CHECK(s->unread_count(user(2), t0).unread == 1);
}

STORE_CASE("a group item reaches only users holding every pair of its audience", "") {
  auto s = b.open();
  auto r = insert(*s, R"({"audience":"role/3/org/1","title":"for org 1 admins"})");
  const auto id = r.items[0].id;
  CHECK(r.items[0].audience == "org/1/role/3");
  auto org_only = user(1, {"org/1"});
  auto both = user(2, {"role/3", "job/7", "org/1"});
  auto other_org = user(3, {"org/2", "role/3"});
  CHECK(s->list_inbox(org_only, {}, t0).items.empty());
  CHECK(s->unread_count(org_only, t0).unread == 0);
  CHECK_FALSE(s->get(org_only, id, true, t0).found);
  CHECK_FALSE(s->mark_read(org_only, id, t0).found);
  CHECK_FALSE(s->remove_for_user(org_only, id, t0).found);
  CHECK(s->unread_count(other_org, t0).unread == 0);
  auto page = s->list_inbox(both, {}, t0);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].audience == "org/1/role/3");
  CHECK(page.items[0].kind == proto::item_kind::group);
  CHECK(page.unread == 1);
  // A single-pair audience matches a user with more groups.
  insert(*s, R"({"audience":"org/1","title":"all of org 1"})");
  CHECK(s->unread_count(org_only, t0).unread == 1);
  CHECK(s->unread_count(both, t0).unread == 2);
}

STORE_CASE("audiences match the same with few and with many groups (by key and by pair index)",
           "") {
  auto s = b.open();
  // An 8-pair audience, a 1-pair one, and one the viewers lack a pair of.
  const auto eight =
      insert(*s, R"({"audience":"a/1/b/1/c/1/d/1/e/1/f/1/g/1/h/1","title":"8"})").items[0].id;
  const auto one = insert(*s, R"({"audience":"c/1","title":"1"})").items[0].id;
  insert(*s, R"({"audience":"c/1/z/9","title":"not theirs"})");
  const std::vector<std::string> eight_groups{"a/1", "b/1", "c/1", "d/1",
                                              "e/1", "f/1", "g/1", "h/1"};
  auto by_key = user(1, eight_groups);  // 8 pairs: every subset looked up by key
  auto more = eight_groups;
  for (int i = 0; i < 12; ++i) more.push_back("x/" + std::to_string(i));
  auto by_pairs = user(2, more);  // 20 pairs: the pair index
  auto lacking = user(3, {"a/1", "b/1", "c/1", "d/1", "e/1", "f/1", "g/1"});
  for (const auto* v : {&by_key, &by_pairs}) {
    CHECK(s->unread_count(*v, t0).unread == 2);
    const auto page = s->list_inbox(*v, {}, t0);
    REQUIRE(page.items.size() == 2);
    CHECK(page.items[0].id == one);
    CHECK(page.items[1].id == eight);
    const auto since = s->list_since(*v, 0, 100, t0);
    REQUIRE(since.size() == 2);
    CHECK(since[0].id == eight);
  }
  CHECK(s->unread_count(lacking, t0).unread == 1);
  CHECK(s->list_inbox(lacking, {}, t0).items.size() == 1);
  // Reads and read-all move the same counters whichever way the audiences were found.
  CHECK(s->mark_read(by_key, eight, t0).changed);
  CHECK(s->unread_count(by_key, t0).unread == 1);
  CHECK(s->mark_all_read(by_pairs, t0) == 2);
  CHECK(s->unread_count(by_pairs, t0).unread == 0);
  CHECK(s->unread_count(lacking, t0).unread == 1);
}

STORE_CASE("user B cannot see, read or delete user A's items", "") {
  auto s = b.open();
  const auto id = add_personal(*s, 1);
  auto a = user(1), bob = user(2);
  CHECK(s->list_inbox(bob, {}, t0).items.empty());
  CHECK(s->list_since(bob, 0, 100, t0).empty());
  CHECK_FALSE(s->get(bob, id, false, t0).found);
  CHECK_FALSE(s->get(bob, id, true, t0).item);
  CHECK_FALSE(s->mark_read(bob, id, t0).found);
  CHECK_FALSE(s->remove_for_user(bob, id, t0).found);
  CHECK(s->mark_all_read(bob, t0) == 0);
  CHECK(s->unread_count(a, t0).unread == 1);
  auto mine = s->get(a, id, false, t0);
  REQUIRE(mine.item);
  CHECK_FALSE(mine.item->read);
}

STORE_CASE("get marks read and returns the item as read; a second read changes nothing", "") {
  auto s = b.open();
  const auto id = add_personal(*s, 1);
  add_personal(*s, 1);
  auto look = s->get(user(1), id, false, t0);
  REQUIRE(look.found);
  CHECK_FALSE(look.changed);
  CHECK_FALSE(look.item->read);
  CHECK(s->unread_count(user(1), t0).unread == 2);
  auto got = s->get(user(1), id, true, t0);
  REQUIRE(got.item);
  CHECK(got.found);
  CHECK(got.changed);
  CHECK(got.item->read);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  auto again = s->mark_read(user(1), id, t0);
  CHECK(again.found);
  CHECK_FALSE(again.changed);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  CHECK_FALSE(s->mark_read(user(1), 999999, t0).found);
}

STORE_CASE("delete removes an item for that user only and fixes the count", "") {
  auto s = b.open();
  const auto mine = add_personal(*s, 1);
  const auto shared = insert(*s, R"({"user_id":-1,"title":"all"})").items[0].id;
  CHECK(s->unread_count(user(1), t0).unread == 2);
  auto del = s->remove_for_user(user(1), mine, t0);
  CHECK(del.found);
  CHECK(del.changed);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  CHECK_FALSE(s->remove_for_user(user(1), mine, t0).found);
  CHECK_FALSE(s->get(user(1), mine, false, t0).found);
  CHECK(s->remove_for_user(user(1), shared, t0).found);
  CHECK(s->unread_count(user(1), t0).unread == 0);
  CHECK(s->list_inbox(user(1), {}, t0).items.empty());
  CHECK_FALSE(s->get(user(1), shared, false, t0).found);
  // Another user still has the broadcast.
  CHECK(s->unread_count(user(2), t0).unread == 1);
  // Deleting a read item does not move the count.
  const auto read_one = add_personal(*s, 1);
  add_personal(*s, 1);
  s->mark_read(user(1), read_one, t0);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  CHECK(s->remove_for_user(user(1), read_one, t0).changed);
  CHECK(s->unread_count(user(1), t0).unread == 1);
}

STORE_CASE("read-all marks personal, broadcast and group items and counts what changed", "") {
  auto s = b.open();
  auto v = user(1, {"org/1"});
  add_personal(*s, 1);
  const auto read_before = add_personal(*s, 1);
  s->mark_read(v, read_before, t0);
  insert(*s, R"({"user_id":-1,"title":"b"})");
  insert(*s, R"({"audience":"org/1","title":"g"})");
  insert(*s, R"({"audience":"org/2","title":"not mine"})");
  add_personal(*s, 2);
  CHECK(s->unread_count(v, t0).unread == 3);
  CHECK(s->mark_all_read(v, t0) == 3);
  CHECK(s->unread_count(v, t0).unread == 0);
  CHECK(s->mark_all_read(v, t0) == 0);
  CHECK(s->unread_count(user(2), t0).unread == 2);
  for (const auto& n : list_all(*s, v, false)) CHECK(n.read);
  add_personal(*s, 1);
  CHECK(s->unread_count(v, t0).unread == 1);
}

STORE_CASE("paging walks every item once, newest first, under every filter", "") {
  auto s = b.open();
  auto v = user(7, {"org/1", "role/3"});
  std::vector<std::uint64_t> personal, broadcast, group;
  for (int i = 0; i < 150; ++i) {
    switch (i % 5) {
      case 0:
        broadcast.push_back(insert(*s, R"({"user_id":-1,"title":"b"})").items[0].id);
        break;
      case 1:
        group.push_back(insert(*s, R"({"audience":"org/1/role/3","title":"g"})").items[0].id);
        break;
      case 2:
        insert(*s, R"({"audience":"org/9","title":"other group"})");
        break;
      case 3:
        add_personal(*s, 8);
        break;
      default:
        personal.push_back(add_personal(*s, 7));
        personal.push_back(add_personal(*s, 7));
    }
  }
  std::set<std::uint64_t> read;
  for (std::size_t i = 0; i < personal.size(); i += 3) read.insert(personal[i]);
  for (std::size_t i = 0; i < broadcast.size(); i += 4) read.insert(broadcast[i]);
  for (std::size_t i = 0; i < group.size(); i += 2) read.insert(group[i]);
  for (auto id : read) REQUIRE(s->mark_read(v, id, t0).changed);
  const auto total_unread =
      static_cast<std::int64_t>(personal.size() + broadcast.size() + group.size() - read.size());

  auto walk = [&](std::optional<proto::item_kind> kind, bool unread_only, int limit) {
    std::vector<std::uint64_t> seen;
    inbox_query q;
    q.limit = limit;
    q.kind = kind;
    q.unread_only = unread_only;
    for (int pages = 0; pages < 1000; ++pages) {
      auto page = s->list_inbox(v, q, t0);
      CHECK(page.unread == total_unread);
      CHECK(page.items.size() <= static_cast<std::size_t>(limit));
      for (const auto& n : page.items) {
        seen.push_back(n.id);
        CHECK(n.read == (read.count(n.id) == 1));
      }
      if (!page.next_before) break;
      REQUIRE(page.items.size() == static_cast<std::size_t>(limit));
      CHECK(*page.next_before == page.items.back().id);
      q.before = page.next_before;
    }
    return seen;
  };
  auto expect = [&](std::vector<std::vector<std::uint64_t>*> sets, bool unread_only) {
    std::vector<std::uint64_t> out;
    for (auto* set : sets) {
      for (auto id : *set) {
        if (!unread_only || !read.count(id)) out.push_back(id);
      }
    }
    std::sort(out.rbegin(), out.rend());
    return out;
  };
  for (int limit : {1, 7, 20, 100}) {
    CHECK(walk(std::nullopt, false, limit) == expect({&personal, &broadcast, &group}, false));
    CHECK(walk(std::nullopt, true, limit) == expect({&personal, &broadcast, &group}, true));
  }
  CHECK(walk(proto::item_kind::personal, false, 9) == expect({&personal}, false));
  CHECK(walk(proto::item_kind::broadcast, true, 9) == expect({&broadcast}, true));
  CHECK(walk(proto::item_kind::group, false, 9) == expect({&group}, false));
  CHECK(walk(proto::item_kind::group, true, 9) == expect({&group}, true));
  // An exact last page has no next_before.
  inbox_query q;
  q.limit = static_cast<int>(group.size());
  q.kind = proto::item_kind::group;
  CHECK_FALSE(s->list_inbox(v, q, t0).next_before);
}

STORE_CASE("since lists visible items newer than an id, oldest first, read ones included", "") {
  auto s = b.open();
  auto v = user(1);
  const auto a = add_personal(*s, 1);
  const auto bc = insert(*s, R"({"user_id":-1,"title":"b"})").items[0].id;
  add_personal(*s, 2);
  const auto c = add_personal(*s, 1);
  const auto d = insert(*s, R"({"user_id":-1,"title":"b2"})").items[0].id;
  s->mark_read(v, bc, t0);
  auto all = s->list_since(v, 0, 100, t0);
  REQUIRE(all.size() == 4);
  CHECK(all[0].id == a);
  CHECK(all[1].id == bc);
  CHECK(all[1].read);
  CHECK(all[2].id == c);
  CHECK(all[3].id == d);
  auto two = s->list_since(v, a, 2, t0);
  REQUIRE(two.size() == 2);
  CHECK(two[0].id == bc);
  CHECK(two[1].id == c);
  CHECK(s->list_since(v, d, 100, t0).empty());
}
