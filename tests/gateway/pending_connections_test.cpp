#include "gateway/pending_connections.hpp"

#include <catch2/catch.hpp>

#include "gateway/request_limits.hpp"

using namespace herald::gateway;
namespace ip = boost::asio::ip;

namespace {
const auto a1 = ip::make_address("10.0.0.1");
const auto a2 = ip::make_address("10.0.0.2");
}  // namespace

TEST_CASE("past the listener cap the oldest pending connection is evicted for a new one",
          "[pending]") {
  pending_connections p(3, 0);
  std::vector<std::uint64_t> ids;
  for (int i = 0; i < 3; ++i) {
    auto adm = p.add({}, a1);
    CHECK(adm.v == pending_connections::verdict::admitted);
    CHECK(adm.evicted.empty());
    ids.push_back(adm.id);
  }
  auto fourth = p.add({}, a1);
  CHECK(fourth.v == pending_connections::verdict::admitted);
  CHECK(fourth.evicted.size() == 1);
  CHECK(p.size() == 3);
  // The oldest (ids[0]) went: removing it again changes nothing; ids[1] is the oldest now.
  p.remove(ids[0]);
  CHECK(p.size() == 3);
  CHECK(p.take_oldest(1).size() == 1);
  p.remove(ids[1]);  // already taken
  CHECK(p.size() == 2);
}

TEST_CASE("pending connections per source address are capped, other addresses unaffected",
          "[pending]") {
  pending_connections p(100, 2);
  auto x = p.add({}, a1);
  CHECK(p.add({}, a1).v == pending_connections::verdict::admitted);
  CHECK(p.add({}, a1).v == pending_connections::verdict::address_full);
  // A v4-mapped v6 address counts as the same address.
  CHECK(p.add({}, ip::make_address("::ffff:10.0.0.1")).v ==
        pending_connections::verdict::address_full);
  CHECK(p.add({}, a2).v == pending_connections::verdict::admitted);
  // Leaving the list (authenticated, closed) frees the address's slot.
  p.remove(x.id);
  CHECK(p.add({}, a1).v == pending_connections::verdict::admitted);
  CHECK(p.size() == 3);
}

TEST_CASE("the body limit is chosen after routing and, on the internal listener, after the key",
          "[limits]") {
  config cfg;
  cfg.api_keys = {"a-valid-api-key-0123"};
  auto head = [](http::verb v, const char* path, const char* key) {
    request r{v, path, 11};
    if (key) r.set(http::field::authorization, std::string("Bearer ") + key);
    return r;
  };
  auto plan = [&](bool internal, const request& r) {
    return plan_body(cfg, internal, r, parse_target(r.target()));
  };

  // Internal: the batch limit only with a valid key; without one the body is never read.
  const auto keyed = plan(true, head(http::verb::post, "/v1/notify/batch", "a-valid-api-key-0123"));
  CHECK_FALSE(keyed.answer_without_body);
  CHECK(keyed.limit == cfg.max_batch_bytes);
  CHECK(plan(true, head(http::verb::post, "/v1/notify/batch", nullptr)).answer_without_body);
  CHECK(plan(true, head(http::verb::post, "/v1/notify/batch", "wrong")).answer_without_body);
  CHECK(plan(true, head(http::verb::post, "/v1/notify", "a-valid-api-key-0123")).limit ==
        cfg.max_body_bytes);
  CHECK_FALSE(plan(true, head(http::verb::get, "/healthz", nullptr)).answer_without_body);
  // Public: no batch route; unknown API routes and static pages answer from the head.
  const auto pub = plan(false, head(http::verb::post, "/v1/notify/batch", "a-valid-api-key-0123"));
  CHECK(pub.answer_without_body);
  CHECK(pub.limit == cfg.max_body_bytes);
  CHECK_FALSE(
      plan(false, head(http::verb::post, "/v1/inbox/read_all", nullptr)).answer_without_body);
  CHECK(plan(false, head(http::verb::post, "/v1/dev/token", nullptr)).answer_without_body);
  cfg.dev = true;
  CHECK_FALSE(plan(false, head(http::verb::post, "/v1/dev/token", nullptr)).answer_without_body);
}
