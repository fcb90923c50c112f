#include "proto/json_depth.hpp"

#include <catch2/catch.hpp>

using namespace herald::proto;

namespace {
std::string nested(const std::string& open, const std::string& close, std::size_t n,
                   const std::string& inner = "1") {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += open;
  out += inner;
  for (std::size_t i = 0; i < n; ++i) out += close;
  return out;
}
}  // namespace

TEST_CASE("json_too_deep accepts up to the limit and refuses one level more", "[json_depth]") {
  CHECK_FALSE(json_too_deep(nested("[", "]", 32)));
  CHECK(json_too_deep(nested("[", "]", 33)));
  CHECK_FALSE(json_too_deep(nested("{\"a\":", "}", 32)));
  CHECK(json_too_deep(nested("{\"a\":", "}", 33)));
  CHECK_FALSE(json_too_deep("{}"));
  CHECK_FALSE(json_too_deep(""));
}

TEST_CASE("json_too_deep skips brackets inside strings, escaped quotes included", "[json_depth]") {
  const std::string brackets(1000, '[');
  CHECK_FALSE(json_too_deep("{\"k\":\"" + brackets + "\"}"));
  CHECK_FALSE(json_too_deep("{\"k\":\"\\\"" + brackets + "\"}"));
  CHECK_FALSE(json_too_deep("{\"" + brackets + "\":1}"));
  CHECK(json_too_deep("{\"k\":\"\\\\\"," + nested("[", "]", 40) +
                      "}"));  // an escaped backslash ends the escape
}

TEST_CASE("json_too_deep names the keys on the path to the deep value", "[json_depth]") {
  const auto p = json_too_deep("{\"title\":\"t\",\"data\":" + nested("{\"x\":", "}", 40) + "}");
  REQUIRE(p);
  REQUIRE(p->size() == 32);
  CHECK((*p)[0] == "data");
  CHECK((*p)[1] == "x");
  CHECK(deep_field(*p) == "data");
  const auto top = json_too_deep(nested("[", "]", 100000));
  REQUIRE(top);
  CHECK(deep_field(*top) == "body");
}

TEST_CASE("json_too_deep costs one pass, however deep the text", "[json_depth]") {
  const std::string deep = nested("[", "]", 1000000);
  CHECK(json_too_deep(deep));
  CHECK(json_too_deep("{\"a\":" + deep + "}"));
}
