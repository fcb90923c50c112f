#include "proto/notification.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herald::proto;
using nlohmann::json;

namespace {
notification sample() {
  notification n;
  n.id = 123;
  n.kind = item_kind::personal;
  n.user_id = 42;
  n.title = "Order \"7\" shipped";
  n.content = "line1\nline2 \xE4\xBD\xA0\xE5\xA5\xBD";
  n.sender = "orders";
  n.data_json = R"({"order":7})";
  n.created_at_ms = 1795355140123;  // 2026-11-22T13:45:40.123Z
  n.expires_at_ms = 1795355140123 + 7776000000LL;
  n.read = false;
  n.keep = retention::normal;
  n.desktop = true;
  return n;
}
}  // namespace

TEST_CASE("epoch zero formats as 1970-01-01 with milliseconds") {
  CHECK(format_time_ms(0) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("times keep their milliseconds") {
  CHECK(format_time_ms(1) == "1970-01-01T00:00:00.001Z");
  CHECK(format_time_ms(999) == "1970-01-01T00:00:00.999Z");
  CHECK(format_time_ms(1795355140123) == "2026-11-22T13:45:40.123Z");
  CHECK(format_time_ms(86399999) == "1970-01-01T23:59:59.999Z");
}

TEST_CASE("leap days and year ends format correctly") {
  CHECK(format_time_ms(951782400000) == "2000-02-29T00:00:00.000Z");
  CHECK(format_time_ms(1709164800500) == "2024-02-29T00:00:00.500Z");
  CHECK(format_time_ms(1709251199999) == "2024-02-29T23:59:59.999Z");
  CHECK(format_time_ms(1709251200000) == "2024-03-01T00:00:00.000Z");
  CHECK(format_time_ms(4107542400000) == "2100-03-01T00:00:00.000Z");  // 2100 is no leap year
  CHECK(format_time_ms(1735689599999) == "2024-12-31T23:59:59.999Z");
  CHECK(format_time_ms(253402300799999) == "9999-12-31T23:59:59.999Z");
}

TEST_CASE("times before 1970 round down to the right day") {
  CHECK(format_time_ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_time_ms(-86400000) == "1969-12-31T00:00:00.000Z");
  CHECK(format_time_ms(-62135596800000) == "0001-01-01T00:00:00.000Z");
}

TEST_CASE("kinds and retentions have their contract names") {
  CHECK(to_string(item_kind::personal) == "personal");
  CHECK(to_string(item_kind::broadcast) == "broadcast");
  CHECK(to_string(item_kind::group) == "group");
  CHECK(to_string(retention::normal) == "normal");
  CHECK(to_string(retention::important) == "important");
}

TEST_CASE("a personal item encodes every field of the contract") {
  const auto j = json::parse(encode_item(sample()));
  CHECK(j == json::parse(R"({"id":123,"kind":"personal","title":"Order \"7\" shipped",
      "content":"line1\nline2 你好","sender":"orders","data":{"order":7},
      "created_at":"2026-11-22T13:45:40.123Z","read":false,"retention":"normal",
      "expires_at":"2027-02-20T13:45:40.123Z","desktop":true,"read_at":null,
      "delivered_at":null})"));
  CHECK_FALSE(j.contains("audience"));
}

TEST_CASE("an item carries its receipts; the admin view has no delivered_at") {
  auto n = sample();
  n.read_at_ms = 1795873540123;
  n.delivered_at_ms = 1795873539000;
  auto j = json::parse(encode_item(n));
  CHECK(j["read_at"] == "2026-11-28T13:45:40.123Z");
  CHECK(j["delivered_at"] == "2026-11-28T13:45:39.000Z");
  n.own_view = false;
  j = json::parse(encode_item(n));
  CHECK(j["read_at"] == "2026-11-28T13:45:40.123Z");
  CHECK_FALSE(j.contains("delivered_at"));
}

TEST_CASE("an item is compact JSON") {
  const auto text = encode_item(sample());
  CHECK(text.find(": ") == std::string::npos);
  CHECK(text.rfind(R"({"id":123,"kind":"personal","title":)", 0) == 0);
}

TEST_CASE("a group item carries its audience") {
  auto n = sample();
  n.kind = item_kind::group;
  n.user_id = 0;
  n.audience = "org/1/role/3";
  const auto j = json::parse(encode_item(n));
  CHECK(j["kind"] == "group");
  CHECK(j["audience"] == "org/1/role/3");
}

TEST_CASE("a broadcast item has no audience") {
  auto n = sample();
  n.kind = item_kind::broadcast;
  const auto j = json::parse(encode_item(n));
  CHECK(j["kind"] == "broadcast");
  CHECK_FALSE(j.contains("audience"));
}

TEST_CASE("an absent sender is null and absent data is omitted") {
  auto n = sample();
  n.sender.reset();
  n.data_json.clear();
  n.content.clear();
  const auto j = json::parse(encode_item(n));
  REQUIRE(j.contains("sender"));
  CHECK(j["sender"].is_null());
  CHECK_FALSE(j.contains("data"));
  CHECK(j["content"] == "");
}

TEST_CASE("an important item never expires") {
  auto n = sample();
  n.keep = retention::important;
  n.expires_at_ms.reset();
  const auto j = json::parse(encode_item(n));
  CHECK(j["retention"] == "important");
  REQUIRE(j.contains("expires_at"));
  CHECK(j["expires_at"].is_null());
}

TEST_CASE("read and desktop flags are encoded as booleans") {
  auto n = sample();
  n.read = true;
  n.desktop = false;
  const auto j = json::parse(encode_item(n));
  CHECK(j["read"] == true);
  CHECK(j["desktop"] == false);
}

TEST_CASE("the appending encoder keeps what the buffer already holds") {
  std::string out = "[";
  encode_item(sample(), out);
  out += "]";
  const auto j = json::parse(out);
  REQUIRE(j.is_array());
  CHECK(j[0]["id"] == 123);
}

TEST_CASE("ids up to 2^53-1 are written exactly") {
  auto n = sample();
  n.id = (std::uint64_t{1} << 53) - 1;
  CHECK(json::parse(encode_item(n))["id"].get<std::uint64_t>() == 9007199254740991ULL);
}
