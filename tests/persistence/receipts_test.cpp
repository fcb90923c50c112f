// Deliveries from acks (store::ack): each counts one distinct user who may see the item, once,
// written a chunk of users per statement; the stats counter moves by exactly those. Every case
// runs on SQLite and on MySQL (see store_backends.hpp).
#include <set>

#include "persistence/webhook_events.hpp"
#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;
using persistence::ack_request;

namespace {

std::int64_t delivered(persistence::store& s, std::uint64_t id) {
  auto item = s.sent_item_of(id);
  REQUIRE(item);
  return item->stats.delivered;
}

std::vector<ack_request> acks_of(std::uint64_t first_user, std::uint64_t last_user,
                                 std::vector<std::uint64_t> ids,
                                 std::vector<std::string> groups = {}) {
  std::vector<ack_request> out;
  for (auto u = first_user; u <= last_user; ++u) out.push_back({user(u, groups), ids});
  return out;
}

// Webhook events of one type for the duration of a case (the store reads a process setting).
struct webhooks_on {
  explicit webhooks_on(unsigned mask) { persistence::set_webhook_types(mask); }
  ~webhooks_on() { persistence::set_webhook_types(0); }
};

}  // namespace

STORE_CASE("a broadcast acked by more users than one statement takes counts each user once",
           "[receipts]") {
  auto s = b.open();
  const auto id = insert(*s, R"({"user_id":-1,"title":"maintenance"})").items[0].id;
  // 1,200 users (past the 500 users of one statement), one of them twice in the same batch.
  auto batch = acks_of(1, 1200, {id});
  batch.push_back({user(7), {id, id}});
  CHECK(s->ack(batch, t0 + 1) == 1200);
  CHECK(delivered(*s, id) == 1200);
  // Acked again with 300 new users: only those count.
  CHECK(s->ack(acks_of(1, 1500, {id}), t0 + 2) == 300);
  CHECK(delivered(*s, id) == 1500);
  CHECK(s->ack(acks_of(1, 1500, {id}), t0 + 3) == 0);
  CHECK(delivered(*s, id) == 1500);
  // delivered_at is the first ack's.
  auto page = s->list_inbox(user(1), {}, t0 + 4);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].delivered_at_ms == t0 + 1);
}

STORE_CASE("an ack after a read without one counts; a deleted shared item does not", "[receipts]") {
  auto s = b.open();
  const auto id = insert(*s, R"({"user_id":-1,"title":"maintenance"})").items[0].id;
  REQUIRE(s->mark_read(user(1), id, t0).changed);  // a receipts row without delivered_at
  REQUIRE(s->remove_for_user(user(2), id, t0).found);
  CHECK(s->ack(acks_of(1, 3, {id}), t0 + 1) == 2);  // users 1 and 3
  auto item = s->sent_item_of(id);
  REQUIRE(item);
  CHECK(item->stats.delivered == 2);
  CHECK(item->stats.read == 1);
  CHECK(item->stats.deleted == 1);
  auto page = s->list_inbox(user(1), {}, t0 + 2);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].delivered_at_ms == t0 + 1);
  CHECK(s->ack(acks_of(1, 3, {id}), t0 + 2) == 0);
}

STORE_CASE("acks of items a user may not see are ignored", "[receipts]") {
  auto s = b.open();
  const auto group = insert(*s, R"({"audience":"org/1","title":"for org 1"})").items[0].id;
  const auto mine = add_personal(*s, 5);
  const auto gone = insert(*s, R"({"user_id":-1,"title":"retracted"})").items[0].id;
  REQUIRE(s->retract(gone));
  std::vector<ack_request> batch = {
      {user(5, {"org/2"}), {group, mine, gone, mine + 1000}},  // not a member; owner
      {user(6, {"org/1"}), {group, mine}},                     // member; not the owner
      {user(7, {"org/1", "role/3"}), {group}},                 // member
  };
  CHECK(s->ack(batch, t0 + 1) == 3);
  CHECK(delivered(*s, group) == 2);
  CHECK(delivered(*s, mine) == 1);
  CHECK_FALSE(s->sent_item_of(gone));
}

STORE_CASE("with the delivered webhook on, each new delivery raises one event", "[receipts]") {
  webhooks_on on(persistence::webhook_notification_delivered);
  auto s = b.open();
  const auto a = insert(*s, R"({"user_id":-1,"title":"a"})").items[0].id;
  const auto c = insert(*s, R"({"user_id":-1,"title":"c"})").items[0].id;
  REQUIRE(s->mark_read(user(2), a, t0).changed);  // read first: its ack is still new
  CHECK(s->ack(acks_of(1, 3, {a}), t0 + 1) == 3);
  CHECK(s->ack(acks_of(2, 4, {a, c}), t0 + 2) == 4);  // a: 4 only; c: 2, 3, 4
  CHECK(delivered(*s, a) == 4);
  CHECK(delivered(*s, c) == 3);
  CHECK(s->outbox_pending() == 7);
  auto events = s->claim_outbox("test", 100, t0 + 3, 60000);
  std::set<std::string> bodies;
  for (const auto& e : events) {
    CHECK(e.body.find("\"notification.delivered\"") != std::string::npos);
    // The body without its random event id: one per (user, item).
    bodies.insert(e.body.substr(e.body.find(',')));
  }
  CHECK(events.size() == 7);
  CHECK(bodies.size() == 7);
}

STORE_CASE("pages read in one batch each show their own user's receipts", "[receipts]") {
  auto s = b.open();
  const auto a = insert(*s, R"({"user_id":-1,"title":"first"})").items[0].id;
  const auto c = insert(*s, R"({"user_id":-1,"title":"second"})").items[0].id;
  // User 1 was delivered both and read the first; user 2 was delivered the second only; user 3
  // has no receipts. One batch reads all three pages (one receipts statement for all of them).
  REQUIRE(s->ack({{user(1), {a, c}}}, t0 + 1) == 2);
  REQUIRE(s->mark_read(user(1), a, t0 + 2).changed);
  REQUIRE(s->ack({{user(2), {c}}}, t0 + 3) == 1);
  persistence::inbox_query q;
  const auto out = s->read_batch({{user(1), q}, {user(2), q}, {user(3), q}}, t0 + 4);
  REQUIRE(out.size() == 3);
  auto find = [](const persistence::inbox_page& p, std::uint64_t id) {
    for (const auto& n : p.items) {
      if (n.id == id) return n;
    }
    FAIL("item missing from the page");
    return proto::notification{};
  };
  CHECK(find(out[0].page, a).delivered_at_ms == t0 + 1);
  CHECK(find(out[0].page, a).read_at_ms == t0 + 2);
  CHECK(find(out[0].page, c).delivered_at_ms == t0 + 1);
  CHECK_FALSE(find(out[0].page, c).read_at_ms.has_value());
  CHECK_FALSE(find(out[1].page, a).delivered_at_ms.has_value());  // user 1's receipt, not 2's
  CHECK(find(out[1].page, c).delivered_at_ms == t0 + 3);
  CHECK_FALSE(find(out[1].page, c).read_at_ms.has_value());
  for (auto id : {a, c}) {
    CHECK_FALSE(find(out[2].page, id).delivered_at_ms.has_value());
    CHECK_FALSE(find(out[2].page, id).read_at_ms.has_value());
  }
}
