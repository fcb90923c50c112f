#include "proto/api_error.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herald::proto;
using nlohmann::json;

TEST_CASE("each error constructor carries the contract's status and code") {
  CHECK(invalid_argument("title", "x").status == 400);
  CHECK(invalid_argument("title", "x").code == "invalid_argument");
  CHECK(unauthenticated("x").status == 401);
  CHECK(unauthenticated("x").code == "unauthenticated");
  CHECK(forbidden("x").status == 403);
  CHECK(forbidden("x").code == "forbidden");
  CHECK(not_found().status == 404);
  CHECK(not_found().code == "not_found");
  CHECK(method_not_allowed().status == 405);
  CHECK(method_not_allowed().code == "method_not_allowed");
  CHECK(too_large().status == 413);
  CHECK(too_large().code == "too_large");
  CHECK(unavailable("x").status == 503);
  CHECK(unavailable("x").code == "unavailable");
  CHECK(internal_error().status == 500);
  CHECK(internal_error().code == "internal");
}

TEST_CASE("an invalid_argument error encodes code, message and field") {
  const auto body = encode_error(invalid_argument("title", "title is required"));
  CHECK(body ==
        R"({"error":{"code":"invalid_argument","message":"title is required","field":"title"}})");
}

TEST_CASE("an error without a field encodes only code and message") {
  const auto j = json::parse(encode_error(unauthenticated("bad token")));
  CHECK(j == json::parse(R"({"error":{"code":"unauthenticated","message":"bad token"}})"));
  CHECK_FALSE(j["error"].contains("field"));
}

TEST_CASE("error messages are JSON-escaped") {
  const auto j = json::parse(encode_error(forbidden("a \"quoted\"\nline\\")));
  CHECK(j["error"]["message"] == "a \"quoted\"\nline\\");
}
