#include "proto/client_frame.hpp"

#include <catch2/catch.hpp>

using namespace herald::proto;

namespace {
client_frame accepted(std::string_view text) {
  INFO(text);
  auto r = parse_client_frame(text);
  REQUIRE(std::holds_alternative<client_frame>(r));
  return std::get<client_frame>(r);
}

std::string refusal(std::string_view text) {
  INFO(text);
  auto r = parse_client_frame(text);
  REQUIRE(std::holds_alternative<frame_error>(r));
  CHECK_FALSE(std::get<frame_error>(r).message.empty());
  return std::get<frame_error>(r).code;
}
}  // namespace

TEST_CASE("ping and read_all need nothing else") {
  CHECK(accepted(R"({"type":"ping"})").type == client_frame_type::ping);
  CHECK(accepted(R"({"type":"read_all"})").type == client_frame_type::read_all);
  CHECK(accepted(R"({"type":"ping","extra":1})").type == client_frame_type::ping);
}

TEST_CASE("read and delete carry a positive id") {
  const auto read = accepted(R"({"type":"read","id":7})");
  CHECK(read.type == client_frame_type::read);
  CHECK(read.id == 7);
  const auto remove = accepted(R"({"id":9007199254740991,"type":"delete"})");
  CHECK(remove.type == client_frame_type::remove);
  CHECK(remove.id == 9007199254740991ULL);
}

TEST_CASE("read and delete without a positive integer id are invalid_argument") {
  for (const auto* text :
       {R"({"type":"read"})", R"({"type":"read","id":0})", R"({"type":"read","id":-3})",
        R"({"type":"read","id":"7"})", R"({"type":"read","id":7.5})", R"({"type":"read","id":7.0})",
        R"({"type":"read","id":null})", R"({"type":"delete"})", R"({"type":"delete","id":0})",
        R"({"type":"delete","id":[1]})"}) {
    CHECK(refusal(text) == "invalid_argument");
  }
}

TEST_CASE("sync carries a non-negative since") {
  const auto zero = accepted(R"({"type":"sync","since":0})");
  CHECK(zero.type == client_frame_type::sync);
  CHECK(zero.since == 0);
  CHECK(accepted(R"({"type":"sync","since":123})").since == 123);
}

TEST_CASE("sync without a non-negative integer since is invalid_argument") {
  CHECK(refusal(R"({"type":"sync"})") == "invalid_argument");
  CHECK(refusal(R"({"type":"sync","since":-1})") == "invalid_argument");
  CHECK(refusal(R"({"type":"sync","since":"5"})") == "invalid_argument");
  CHECK(refusal(R"({"type":"sync","since":1.5})") == "invalid_argument");
}

TEST_CASE("text that is not a JSON object with a string type is invalid_frame") {
  CHECK(refusal("") == "invalid_frame");
  CHECK(refusal("ping") == "invalid_frame");
  CHECK(refusal(R"({"type":"ping")") == "invalid_frame");
  CHECK(refusal("[]") == "invalid_frame");
  CHECK(refusal(R"("ping")") == "invalid_frame");
  CHECK(refusal("null") == "invalid_frame");
  CHECK(refusal("{}") == "invalid_frame");
  CHECK(refusal(R"({"type":1})") == "invalid_frame");
  CHECK(refusal(R"({"type":null})") == "invalid_frame");
  CHECK(refusal(R"({"type":["ping"]})") == "invalid_frame");
}

TEST_CASE("an unknown type is unknown_type") {
  CHECK(refusal(R"({"type":"subscribe"})") == "unknown_type");
  CHECK(refusal(R"({"type":"PING"})") == "unknown_type");
  CHECK(refusal(R"({"type":"remove","id":1})") == "unknown_type");
  CHECK(refusal(R"({"type":""})") == "unknown_type");
}

TEST_CASE("a frame nested past 32 levels is refused without a recursive parse",
          "[client_frame][depth]") {
  std::string deep =
      R"({"type":"ping","x":)" + std::string(3000, '[') + std::string(3000, ']') + "}";
  CHECK(refusal(deep) == "invalid_argument");
  auto r = parse_client_frame(deep);
  CHECK_THAT(std::get<frame_error>(r).message, Catch::Contains("\"x\""));
  // A shallow extra field is fine (positive control).
  CHECK(accepted(R"({"type":"ping","x":[[1]]})").type == client_frame_type::ping);
}

TEST_CASE("refresh carries a non-empty token string") {
  auto f = accepted(R"({"type":"refresh","token":"a.b.c"})");
  CHECK(f.type == client_frame_type::refresh);
  CHECK(f.token == "a.b.c");
  CHECK(refusal(R"({"type":"refresh"})") == "invalid_argument");
  CHECK(refusal(R"({"type":"refresh","token":""})") == "invalid_argument");
  CHECK(refusal(R"({"type":"refresh","token":5})") == "invalid_argument");
}

TEST_CASE("ack carries 1 to 100 positive ids") {
  CHECK(accepted(R"({"type":"ack","ids":[1,2,3]})").type == client_frame_type::ack);
  CHECK(accepted(R"({"type":"ack","ids":[1,9007199254740991,3]})").ids ==
        std::vector<std::uint64_t>{1, 9007199254740991ULL, 3});
  std::string hundred = R"({"type":"ack","ids":[1)";
  for (int i = 2; i <= 100; ++i) hundred += "," + std::to_string(i);
  CHECK(accepted(hundred + "]}").type == client_frame_type::ack);
  CHECK(refusal(hundred + ",101]}") == "invalid_argument");
  CHECK(refusal(R"({"type":"ack","ids":[]})") == "invalid_argument");
  CHECK(refusal(R"({"type":"ack","ids":[0]})") == "invalid_argument");
  CHECK(refusal(R"({"type":"ack","ids":["1"]})") == "invalid_argument");
  CHECK(refusal(R"({"type":"ack"})") == "invalid_argument");
}
