#include "proto/server_frames.hpp"

#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herald::proto;
using nlohmann::json;

namespace {
notification item(std::uint64_t id) {
  notification n;
  n.id = id;
  n.kind = item_kind::broadcast;
  n.title = "t" + std::to_string(id);
  n.created_at_ms = 1000;
  n.expires_at_ms = 2000;
  return n;
}
}  // namespace

TEST_CASE("pong and error frames are compact JSON") {
  CHECK(encode_pong() == R"({"type":"pong"})");
  CHECK(encode_error_frame("not_found", "no such item") ==
        R"({"type":"error","code":"not_found","message":"no such item"})");
  CHECK(json::parse(encode_error_frame("invalid_frame", "bad \"x\""))["message"] == "bad \"x\"");
}

TEST_CASE("a desktop frame omits data when absent") {
  CHECK(encode_desktop("Hi", "there", "") ==
        R"({"type":"desktop","title":"Hi","content":"there"})");
  const auto j = json::parse(encode_desktop("Hi \xE4\xBD\xA0", "a\nb", R"({"k":[1]})"));
  CHECK(j ==
        json::parse(R"({"type":"desktop","title":"Hi 你","content":"a\nb","data":{"k":[1]}})"));
}

TEST_CASE("a sync frame lists items in the given order with more") {
  const std::vector<notification> items{item(1), item(2), item(3)};
  const auto j = json::parse(encode_sync(items, true));
  CHECK(j["type"] == "sync");
  CHECK(j["more"] == true);
  REQUIRE(j["notifications"].size() == 3);
  CHECK(j["notifications"][0]["id"] == 1);
  CHECK(j["notifications"][2]["id"] == 3);
  CHECK(j["notifications"][1] == json::parse(encode_item(items[1])));
}

TEST_CASE("an empty sync frame is still a frame") {
  CHECK(encode_sync({}, false) == R"({"type":"sync","notifications":[],"more":false})");
}

TEST_CASE("prefix plus tail is one notification frame") {
  const auto n = item(42);
  const auto prefix = encode_notification_prefix(n);
  char buf[32];
  const auto len = encode_notification_tail(17, buf);
  const auto j = json::parse(prefix + std::string(buf, len));
  CHECK(j["type"] == "notification");
  CHECK(j["unread"] == 17);
  CHECK(j["notification"] == json::parse(encode_item(n)));
  CHECK(std::string(buf, len) == R"(,"unread":17})");
}

TEST_CASE("the tail fits 32 bytes for any count") {
  char buf[32];
  const auto len = encode_notification_tail(std::numeric_limits<std::int64_t>::min(), buf);
  CHECK(len <= 32);
  CHECK(std::string(buf, len) == R"(,"unread":-9223372036854775808})");
  CHECK(std::string(buf, encode_notification_tail(0, buf)) == R"(,"unread":0})");
}

TEST_CASE("a count frame is its prefix plus the notification tail, for any count") {
  char buf[32];
  for (std::int64_t n : {std::int64_t{0}, std::int64_t{5}, std::int64_t{1234567},
                         std::numeric_limits<std::int64_t>::max()}) {
    const std::string frame =
        std::string(count_frame_prefix) + std::string(buf, encode_notification_tail(n, buf));
    CHECK(json::parse(frame) == json{{"type", "count"}, {"unread", n}});
  }
  CHECK(std::string(count_frame_prefix) + std::string(buf, encode_notification_tail(5, buf)) ==
        R"({"type":"count","unread":5})");
}
