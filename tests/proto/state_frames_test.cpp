#include "proto/state_frames.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <vector>

#include "proto/client_frame.hpp"
#include "proto/server_frames.hpp"

using namespace herald::proto;
using json = nlohmann::json;

namespace {
state_change change(change_type t, std::uint64_t id, std::uint64_t seq,
                    removal_reason r = removal_reason::deleted) {
  state_change c;
  c.type = t;
  c.id = id;
  c.seq = seq;
  c.reason = r;
  return c;
}
}  // namespace

TEST_CASE("state frames are the exact frames of the contract") {
  CHECK(encode_state(change(change_type::read, 7, 12)) ==
        R"({"type":"changed","id":7,"read":true,"seq":12})");
  CHECK(encode_state(change(change_type::read_all, 40, 41)) ==
        R"({"type":"read_all","up_to":40,"seq":41})");
  CHECK(encode_state(change(change_type::removed, 9, 50, removal_reason::deleted)) ==
        R"({"type":"removed","id":9,"reason":"deleted","seq":50})");
  CHECK(encode_state(change(change_type::removed, 9, 51, removal_reason::retracted)) ==
        R"({"type":"removed","id":9,"reason":"retracted","seq":51})");
  CHECK(encode_state(change(change_type::removed, 9, 52, removal_reason::expired)) ==
        R"({"type":"removed","id":9,"reason":"expired","seq":52})");
}

TEST_CASE("a sync frame with changes carries them in order, and reset only when set") {
  notification n;
  n.id = 5;
  n.title = "t";
  n.seq = 8;
  std::vector<notification> items{n};
  std::vector<state_change> changes{change(change_type::read, 3, 6),
                                    change(change_type::removed, 4, 7)};
  auto j = json::parse(encode_sync_with_changes(items, changes, true, false));
  CHECK(j["type"] == "sync");
  CHECK(j["more"] == true);
  CHECK_FALSE(j.contains("reset"));
  REQUIRE(j["changes"].size() == 2);
  CHECK(j["changes"][0] == json::parse(encode_state(changes[0])));
  CHECK(j["changes"][1]["type"] == "removed");
  CHECK(j["notifications"][0]["seq"] == 8);
  auto r = json::parse(encode_sync_with_changes({}, {}, false, true));
  CHECK(r["reset"] == true);
  CHECK(r["changes"].empty());
}

TEST_CASE("a notification frame carries seq at its top level, its id when no later change") {
  notification n;
  n.id = 42;
  n.title = "x";
  char buf[32];
  const auto len = encode_notification_tail(1, buf);
  auto j = json::parse(encode_notification_prefix(n) + std::string(buf, len));
  CHECK(j["seq"] == 42);
  CHECK_FALSE(j["notification"].contains("seq"));
  n.seq = 50;
  j = json::parse(encode_notification_prefix(n) + std::string(buf, len));
  CHECK(j["seq"] == 50);
}

TEST_CASE("a sync client frame takes an optional changes_since seq") {
  auto f = parse_client_frame(R"({"type":"sync","since":3,"changes_since":9})");
  REQUIRE(std::holds_alternative<client_frame>(f));
  CHECK(std::get<client_frame>(f).changes_since == 9u);
  f = parse_client_frame(R"({"type":"sync","since":3})");
  REQUIRE(std::holds_alternative<client_frame>(f));
  CHECK_FALSE(std::get<client_frame>(f).changes_since);
  for (const char* bad : {R"({"type":"sync","since":3,"changes_since":-1})",
                          R"({"type":"sync","since":3,"changes_since":"9"})",
                          R"({"type":"sync","since":3,"changes_since":1.5})",
                          R"({"type":"sync","since":3,"changes_since":9007199254740992})"}) {
    auto e = parse_client_frame(bad);
    REQUIRE(std::holds_alternative<frame_error>(e));
    CHECK(std::get<frame_error>(e).code == "invalid_argument");
  }
}
