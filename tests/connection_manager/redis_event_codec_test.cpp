#include "connection_manager/event_codec.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "connection_manager/redis_endpoint.hpp"

using herald::cm::decode_event;
using herald::cm::encode_event;
using herald::cm::event;
using herald::cm::event_target;
using herald::cm::event_type;

namespace {

event make_event(event_type type, event_target target) {
  event e;
  e.type = type;
  e.target = target;
  if (target == event_target::users) e.users = {42, 9007199254740991ULL};
  if (target == event_target::group) e.group = "org/1/role/3";
  if (type == event_type::notification) e.id = 123;
  if (type != event_type::count_changed && type != event_type::revoke) {
    e.payload = std::make_shared<const std::string>(
        R"({"type":"notification","notification":{"title":"é \"quoted\"\n"})");
  }
  return e;
}

}  // namespace

TEST_CASE("every event type and target survives a round trip with its origin node",
          "[redis][codec]") {
  for (auto type : {event_type::notification, event_type::desktop, event_type::count_changed,
                    event_type::revoke, event_type::state}) {
    for (auto target : {event_target::users, event_target::everyone, event_target::group}) {
      auto e = make_event(type, target);
      auto text = encode_event(e, "node-a");
      auto m = decode_event(text);
      REQUIRE(m);
      CHECK(m->origin == "node-a");
      CHECK(m->ev.type == type);
      CHECK(m->ev.target == target);
      CHECK(m->ev.users == e.users);
      CHECK(m->ev.group == e.group);
      CHECK(m->ev.id == e.id);
      REQUIRE(bool(m->ev.payload) == bool(e.payload));
      if (e.payload) CHECK(*m->ev.payload == *e.payload);
    }
  }
}

TEST_CASE("an encoded event is compact JSON carrying version 1", "[redis][codec]") {
  auto text = encode_event(make_event(event_type::count_changed, event_target::everyone), "n");
  CHECK(text.find(' ') == std::string::npos);
  auto j = nlohmann::json::parse(text);
  CHECK(j.at("v") == 1);
  CHECK(j.at("type") == "count");
  CHECK(j.at("target") == "everyone");
  CHECK_FALSE(j.contains("users"));
  CHECK_FALSE(j.contains("payload"));
  CHECK_FALSE(j.contains("id"));
}

TEST_CASE("decoding refuses other versions and malformed messages", "[redis][codec]") {
  auto good = nlohmann::json::parse(
      encode_event(make_event(event_type::notification, event_target::users), "a"));
  REQUIRE(decode_event(good.dump()));

  auto with = [&](const char* key, nlohmann::json value) {
    auto j = good;
    j[key] = std::move(value);
    return j.dump();
  };
  auto without = [&](const char* key) {
    auto j = good;
    j.erase(key);
    return j.dump();
  };
  CHECK_FALSE(decode_event(with("v", 2)));
  CHECK_FALSE(decode_event(with("v", 0)));
  CHECK_FALSE(decode_event(with("v", "1")));
  CHECK_FALSE(decode_event(without("v")));
  CHECK_FALSE(decode_event(without("node")));
  CHECK_FALSE(decode_event(with("type", "shout")));
  CHECK_FALSE(decode_event(with("target", "planet")));
  CHECK_FALSE(decode_event(with("users", nlohmann::json::array())));
  CHECK_FALSE(decode_event(with("users", {1, -2})));
  CHECK_FALSE(decode_event(with("users", {0})));
  CHECK_FALSE(decode_event(with("users", {9007199254740992ULL})));
  CHECK_FALSE(decode_event(with("users", "42")));
  CHECK_FALSE(decode_event(without("users")));
  CHECK_FALSE(decode_event(with("group", "org/1")));  // group on a users event
  CHECK_FALSE(decode_event(with("id", -1)));
  CHECK_FALSE(decode_event(with("payload", 5)));
  CHECK_FALSE(decode_event(""));
  CHECK_FALSE(decode_event("not json"));
  CHECK_FALSE(decode_event("[1,2,3]"));
  CHECK_FALSE(decode_event("{\"v\":1"));

  auto group = nlohmann::json::parse(
      encode_event(make_event(event_type::desktop, event_target::group), "a"));
  group.erase("group");
  CHECK_FALSE(decode_event(group.dump()));
}

TEST_CASE("bus URLs parse into host, port and password", "[redis][codec]") {
  using herald::cm::redis_endpoint;
  auto a = redis_endpoint::parse("redis://127.0.0.1:6380");
  REQUIRE(a);
  CHECK(a->host == "127.0.0.1");
  CHECK(a->port == 6380);
  CHECK(a->password.empty());
  auto b = redis_endpoint::parse("redis://:s3cret@redis/");
  REQUIRE(b);
  CHECK(b->host == "redis");
  CHECK(b->port == 6379);
  CHECK(b->password == "s3cret");
  auto c = redis_endpoint::parse("redis://[::1]:7000");
  REQUIRE(c);
  CHECK(c->host == "::1");
  CHECK(c->port == 7000);
  CHECK_FALSE(redis_endpoint::parse("http://host:6379"));
  CHECK_FALSE(redis_endpoint::parse("redis://"));
  CHECK_FALSE(redis_endpoint::parse("redis://host:0"));
  CHECK_FALSE(redis_endpoint::parse("redis://host:70000"));
  CHECK_FALSE(redis_endpoint::parse("redis://host:12x"));
  CHECK_FALSE(redis_endpoint::parse("redis://host:6379/2"));
}

TEST_CASE("a revoke event travels as type revoke", "[redis][codec]") {
  auto j =
      nlohmann::json::parse(encode_event(make_event(event_type::revoke, event_target::users), "n"));
  CHECK(j.at("type") == "revoke");
  CHECK(j.at("users") == nlohmann::json::array({42, 9007199254740991ULL}));
  auto m = decode_event(R"({"v":1,"node":"x","type":"revoke","target":"users","users":[5]})");
  REQUIRE(m);
  CHECK(m->ev.type == event_type::revoke);
  CHECK(m->ev.users == std::vector<std::uint64_t>{5});
  CHECK_FALSE(decode_event(R"({"v":1,"node":"x","type":"revoked","target":"users","users":[5]})"));
}

TEST_CASE("a state event carries its seq and its item's audience across nodes", "[redis][codec]") {
  event e = make_event(event_type::state, event_target::users);
  e.id = 77;
  e.seq = 81;
  e.audience = "org/1/role/3";
  auto m = decode_event(encode_event(e, "node-a"));
  REQUIRE(m);
  CHECK(m->ev.seq == 81);
  CHECK(m->ev.audience == "org/1/role/3");
  // Older nodes' messages have neither: both stay empty.
  event plain = make_event(event_type::state, event_target::everyone);
  auto p = decode_event(encode_event(plain, "node-b"));
  REQUIRE(p);
  CHECK(p->ev.seq == 0);
  CHECK(p->ev.audience.empty());
  auto j = nlohmann::json::parse(encode_event(e, "node-a"));
  j["seq"] = -1;
  CHECK_FALSE(decode_event(j.dump()));
  j["seq"] = 81;
  j["aud"] = 5;
  CHECK_FALSE(decode_event(j.dump()));
}
