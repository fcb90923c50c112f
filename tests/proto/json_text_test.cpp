#include "proto/json_text.hpp"

#include <limits>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herald::proto;

namespace {
std::string json_quoted(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}
}  // namespace

TEST_CASE("plain strings are quoted verbatim") {
  CHECK(json_quoted("") == R"("")");
  CHECK(json_quoted("hello") == R"("hello")");
}

TEST_CASE("quotes, backslashes and control characters are escaped") {
  CHECK(json_quoted("a\"b\\c") == R"("a\"b\\c")");
  CHECK(json_quoted("\n\r\t\b\f") == R"("\n\r\t\b\f")");
  CHECK(json_quoted(std::string_view("\x01\x1f\0", 3)) == R"("\u0001\u001f\u0000")");
}

TEST_CASE("valid multibyte UTF-8 is copied unchanged and round-trips") {
  const std::string text = "h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80";
  CHECK(json_quoted(text) == "\"" + text + "\"");
  CHECK(nlohmann::json::parse(json_quoted(text)).get<std::string>() == text);
}

TEST_CASE("invalid UTF-8 bytes are replaced so the output stays valid JSON") {
  const std::string bad =
      "a\xFF"
      "b\xC3";  // stray byte, then a truncated sequence
  const auto out = json_quoted(bad);
  CHECK(out ==
        "\"a\xEF\xBF\xBD"
        "b\xEF\xBF\xBD\"");
  CHECK_NOTHROW(nlohmann::json::parse(out));
}

TEST_CASE("integers are written in full") {
  std::string out;
  append_json_int(out, std::numeric_limits<std::int64_t>::min());
  out.push_back(' ');
  append_json_uint(out, std::numeric_limits<std::uint64_t>::max());
  CHECK(out == "-9223372036854775808 18446744073709551615");
}

TEST_CASE("code points are counted, and invalid UTF-8 is reported") {
  CHECK(utf8_code_points("") == 0);
  CHECK(utf8_code_points("abc") == 3);
  CHECK(utf8_code_points("\xC3\xA9\xE4\xBD\xA0\xF0\x9F\x98\x80") == 3);
  CHECK(utf8_code_points("\xFF") == -1);
  CHECK(utf8_code_points("\xC0\xAF") == -1);          // overlong '/'
  CHECK(utf8_code_points("\xED\xA0\x80") == -1);      // UTF-16 surrogate
  CHECK(utf8_code_points("\xF4\x90\x80\x80") == -1);  // past U+10FFFF
  CHECK(utf8_code_points("\xE4\xBD") == -1);          // truncated
}
