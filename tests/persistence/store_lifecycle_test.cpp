// Store conformance, part 2: retention and expiry, purge, idempotency, retraction, stats.
// Every case runs on SQLite and on MySQL (see store_backends.hpp).
#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

STORE_CASE("an expired item leaves lists and counts at once, before any purge", "") {
  auto s = b.open();
  auto v = user(1);
  const auto short_lived = insert(*s, R"({"user_id":1,"title":"t","ttl_s":10})").items[0].id;
  const auto shared = insert(*s, R"({"user_id":-1,"title":"b","ttl_s":10})").items[0].id;
  const auto kept = add_personal(*s, 1);
  const auto just_before = t0 + 10'000 - 1;
  CHECK(s->unread_count(v, just_before).unread == 3);
  CHECK(s->list_inbox(v, {}, just_before).items.size() == 3);
  const auto at = t0 + 10'000;
  CHECK(s->unread_count(v, at).unread == 1);
  auto page = s->list_inbox(v, {}, at);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].id == kept);
  CHECK(page.unread == 1);
  CHECK(s->list_since(v, 0, 100, at).size() == 1);
  CHECK_FALSE(s->get(v, short_lived, true, at).found);
  CHECK_FALSE(s->mark_read(v, shared, at).found);
  CHECK_FALSE(s->remove_for_user(v, short_lived, at).found);
  CHECK(s->mark_all_read(v, at) == 1);
  CHECK(s->unread_count(v, at).unread == 0);
  CHECK(s->stats(just_before).notifications_stored == 3);
  CHECK(s->stats(at).notifications_stored == 1);
}

STORE_CASE("an important item never expires", "") {
  auto s = b.open();
  auto r = insert(*s, R"({"user_id":1,"title":"contract","retention":"important"})");
  CHECK_FALSE(r.items[0].expires_at_ms);
  CHECK(r.items[0].keep == proto::retention::important);
  const auto far = t0 + std::int64_t{20} * 365 * 86400 * 1000;
  CHECK(s->unread_count(user(1), far).unread == 1);
  auto page = s->list_inbox(user(1), {}, far);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].keep == proto::retention::important);
  CHECK_FALSE(page.items[0].expires_at_ms);
  CHECK(s->purge_expired(far, 100) == 0);
}

STORE_CASE("expired_between names the items whose expiry lowers a count", "") {
  auto s = b.open();
  const auto p = insert(*s, R"({"user_id":1,"title":"p","ttl_s":5})").items[0].id;
  const auto read = insert(*s, R"({"user_id":1,"title":"r","ttl_s":5})").items[0].id;
  s->mark_read(user(1), read, t0);
  const auto g = insert(*s, R"({"audience":"org/1","title":"g","ttl_s":6})").items[0].id;
  insert(*s, R"({"user_id":2,"title":"later","ttl_s":60})");
  auto refs = s->expired_between(t0, t0 + 6'000);
  REQUIRE(refs.size() == 2);
  CHECK(refs[0].id == p);
  CHECK(refs[0].kind == proto::item_kind::personal);
  CHECK(refs[0].user_id == 1);
  CHECK(refs[1].id == g);
  CHECK(refs[1].kind == proto::item_kind::group);
  CHECK(refs[1].audience == "org/1");
  CHECK(s->expired_between(t0 + 6'000, t0 + 7'000).empty());
}

STORE_CASE("purge deletes expired items in batches and keeps counts true", "") {
  auto s = b.open();
  auto v = user(1);
  for (int i = 0; i < 5; ++i) insert(*s, R"({"user_id":1,"title":"old","ttl_s":1})");
  const auto gone_read = insert(*s, R"({"user_id":1,"title":"old read","ttl_s":1})").items[0].id;
  s->mark_read(v, gone_read, t0);
  const auto shared = insert(*s, R"({"user_id":-1,"title":"old b","ttl_s":1})").items[0].id;
  s->mark_read(v, shared, t0);  // a user_state row that must go with it
  add_personal(*s, 1);
  const auto later = t0 + 2'000;
  CHECK(s->unread_count(v, later).unread == 1);
  CHECK(s->purge_expired(later, 3) == 3);
  CHECK(s->unread_count(v, later).unread == 1);
  CHECK(s->purge_expired(later, 100) == 4);
  CHECK(s->purge_expired(later, 100) == 0);
  CHECK(s->unread_count(v, later).unread == 1);
  CHECK(s->unread_count(v, t0).unread == 1);  // the purged rows are gone even for an old clock
  CHECK(list_all(*s, v, false, t0).size() == 1);
}

STORE_CASE("a repeated idempotency key returns the first answer and stores nothing", "") {
  auto s = b.open();
  auto first =
      s->insert_batch({request(R"({"user_id":1,"title":"a","idempotency_key":"k-1"})", t0, 3)})[0];
  CHECK_FALSE(first.duplicate);
  auto second = s->insert_batch(
      {request(R"({"user_id":2,"title":"something else","idempotency_key":"k-1"})", t0 + 5, 9)})[0];
  CHECK(second.duplicate);
  CHECK(second.previous_answer == first.answer);
  CHECK(second.items.empty());
  CHECK(s->unread_count(user(1), t0).unread == 1);
  CHECK(s->unread_count(user(2), t0).unread == 0);
  CHECK(s->stats(t0).notifications_stored == 1);
  // Keys compare exactly: another case is another key.
  auto other = insert(*s, R"({"user_id":1,"title":"b","idempotency_key":"K-1"})");
  CHECK_FALSE(other.duplicate);
}

STORE_CASE("the same key twice in one batch stores once", "") {
  auto s = b.open();
  auto results = s->insert_batch({
      request(R"({"user_id":1,"title":"a","idempotency_key":"dup"})"),
      request(R"({"user_id":1,"title":"b","idempotency_key":"dup"})"),
      request(R"({"user_id":1,"title":"c","idempotency_key":"dup"})"),
  });
  REQUIRE(results.size() == 3);
  CHECK_FALSE(results[0].duplicate);
  CHECK(results[1].duplicate);
  CHECK(results[2].duplicate);
  CHECK(results[1].previous_answer == results[0].answer);
  CHECK(results[2].previous_answer == results[0].answer);
  CHECK(s->unread_count(user(1), t0).unread == 1);
}

STORE_CASE("persist false with a key stores only the key and its answer", "") {
  auto s = b.open();
  auto r = s->insert_batch({request(
      R"({"user_ids":[1,2],"title":"popup","persist":false,"idempotency_key":"p"})", t0, 4)})[0];
  CHECK(r.items.empty());
  CHECK(r.answer == R"({"ids":[null,null],"online":4})");
  CHECK(s->unread_count(user(1), t0).unread == 0);
  CHECK(s->stats(t0).notifications_stored == 0);
  auto again = insert(*s, R"({"user_id":1,"title":"x","idempotency_key":"p"})");
  CHECK(again.duplicate);
  CHECK(again.previous_answer == r.answer);
  CHECK(s->unread_count(user(1), t0).unread == 0);
}

STORE_CASE("idempotency keys outlive their items' retention and are purged after it", "") {
  auto s = b.open();
  insert(*s, R"({"user_id":1,"title":"a","ttl_s":1,"idempotency_key":"keep-me"})");
  const auto after_item = t0 + 2'000;
  s->purge_expired(after_item, 100);
  CHECK(
      insert(*s, R"({"user_id":1,"title":"a","idempotency_key":"keep-me"})", after_item).duplicate);
  const auto after_window = t0 + default_ttl_s * 1000 + 1;
  s->purge_expired(after_window, 100);
  CHECK_FALSE(insert(*s, R"({"user_id":1,"title":"a","idempotency_key":"keep-me"})", after_window)
                  .duplicate);
}

STORE_CASE("retraction removes an item from every inbox and is refused the second time", "") {
  auto s = b.open();
  const auto p = add_personal(*s, 1);
  const auto bc = insert(*s, R"({"user_id":-1,"title":"oops"})").items[0].id;
  const auto g = insert(*s, R"({"audience":"org/1/role/3","title":"g"})").items[0].id;
  auto v = user(1, {"org/1", "role/3"});
  CHECK(s->unread_count(v, t0).unread == 3);
  auto ref = s->retract(p);
  REQUIRE(ref);
  CHECK(ref->kind == proto::item_kind::personal);
  CHECK(ref->user_id == 1);
  CHECK(s->unread_count(v, t0).unread == 2);
  auto rb = s->retract(bc);
  REQUIRE(rb);
  CHECK(rb->kind == proto::item_kind::broadcast);
  auto rg = s->retract(g);
  REQUIRE(rg);
  CHECK(rg->audience == "org/1/role/3");
  CHECK(s->unread_count(v, t0).unread == 0);
  CHECK(s->unread_count(user(2), t0).unread == 0);
  CHECK(s->list_inbox(v, {}, t0).items.empty());
  CHECK_FALSE(s->get(v, p, false, t0).found);
  CHECK_FALSE(s->retract(p));
  CHECK_FALSE(s->retract(987654));
  CHECK(s->stats(t0).notifications_stored == 0);
}

STORE_CASE("retracting a read or deleted item leaves the count alone", "") {
  auto s = b.open();
  const auto read = add_personal(*s, 1);
  const auto deleted = add_personal(*s, 1);
  add_personal(*s, 1);
  s->mark_read(user(1), read, t0);
  s->remove_for_user(user(1), deleted, t0);
  CHECK(s->unread_count(user(1), t0).unread == 1);
  CHECK(s->retract(read));
  CHECK(s->retract(deleted));
  CHECK(s->unread_count(user(1), t0).unread == 1);
}
