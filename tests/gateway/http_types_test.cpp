#include "gateway/http_types.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

namespace gw = herald::gateway;
namespace http = gw::http;

namespace {

gw::request with_authorization(const std::string& value) {
  gw::request req{http::verb::get, "/v1/inbox", 11};
  req.set(http::field::authorization, value);
  return req;
}

}  // namespace

TEST_CASE("parse_target splits the path from the query", "[http_types]") {
  auto t = gw::parse_target("/v1/inbox?limit=20&before=99&status=unread");
  CHECK_FALSE(t.bad);
  CHECK(t.path == "/v1/inbox");
  CHECK(t.query.size() == 3);
  CHECK(t.param("limit") == "20");
  CHECK(t.param("before") == "99");
  CHECK(t.param("status") == "unread");
  CHECK_FALSE(t.param("kind").has_value());

  auto bare = gw::parse_target("/healthz");
  CHECK_FALSE(bare.bad);
  CHECK(bare.path == "/healthz");
  CHECK(bare.query.empty());
}

TEST_CASE("parse_target decodes + and percent escapes in the query", "[http_types]") {
  auto t = gw::parse_target("/v1/ws?token=a+b%20c%2Bd&since=5&caf%C3%A9=%41%62");
  CHECK_FALSE(t.bad);
  CHECK(t.param("token") == "a b c+d");
  CHECK(t.param("since") == "5");
  CHECK(t.param("caf\xC3\xA9") == "Ab");
}

TEST_CASE("parse_target decodes the path but keeps + there", "[http_types]") {
  auto t = gw::parse_target("/v1/inbox/12%33/a+b");
  CHECK_FALSE(t.bad);
  CHECK(t.path == "/v1/inbox/123/a+b");
}

TEST_CASE("parse_target keeps empty values, names without '=' and the first of a repeat",
          "[http_types]") {
  auto t = gw::parse_target("/x?a=&b&&c=1&c=2");
  CHECK_FALSE(t.bad);
  CHECK(t.param("a") == "");
  CHECK(t.param("b") == "");
  CHECK(t.param("c") == "1");
}

TEST_CASE("malformed percent-encoding marks the target bad", "[http_types]") {
  CHECK(gw::parse_target("/v1/inbox?limit=%zz").bad);
  CHECK(gw::parse_target("/v1/inbox?limit=%2").bad);
  CHECK(gw::parse_target("/v1/inbox?limit=%").bad);
  CHECK(gw::parse_target("/v1/inbox?%g1=1").bad);
  CHECK(gw::parse_target("/v1/in%zzbox").bad);
  CHECK(gw::parse_target("/v1/inbox%").bad);
  CHECK_FALSE(gw::parse_target("/v1/inbox?limit=%2a").bad);
}

TEST_CASE("bearer_token takes the token after the Bearer scheme", "[http_types]") {
  CHECK(gw::bearer_token(with_authorization("Bearer abc.def.ghi")) == "abc.def.ghi");
  CHECK(gw::bearer_token(with_authorization("bearer xyz")) == "xyz");
  CHECK(gw::bearer_token(with_authorization("BEARER   spaced  ")) == "spaced");
}

TEST_CASE("bearer_token is empty without the header or with another scheme", "[http_types]") {
  gw::request none{http::verb::get, "/", 11};
  CHECK(gw::bearer_token(none).empty());
  CHECK(gw::bearer_token(with_authorization("Basic dXNlcjpwYXNz")).empty());
  CHECK(gw::bearer_token(with_authorization("Bearer")).empty());
  CHECK(gw::bearer_token(with_authorization("Bearer ")).empty());
  CHECK(gw::bearer_token(with_authorization("Bearerabc")).empty());
  CHECK(gw::bearer_token(with_authorization("abc")).empty());
}

TEST_CASE("error_response carries the status and the error body", "[http_types]") {
  herald::proto::api_error e;
  e.status = 404;
  e.code = "not_found";
  e.message = "no such item";
  auto res = gw::error_response(e);
  CHECK(res.result_int() == 404);
  CHECK(res[http::field::content_type] == "application/json");
  auto body = nlohmann::json::parse(res.body());
  CHECK(body["error"]["code"] == "not_found");
  CHECK(body["error"]["message"] == "no such item");
  CHECK(res[http::field::content_length] == std::to_string(res.body().size()));
}

TEST_CASE("json_response and no_content set status and body", "[http_types]") {
  auto res = gw::json_response(http::status::ok, R"({"unread":3})");
  CHECK(res.result() == http::status::ok);
  CHECK(res.body() == R"({"unread":3})");
  CHECK(res[http::field::content_type] == "application/json");
  CHECK(gw::no_content().result_int() == 204);
  CHECK(gw::no_content().body().empty());
}

TEST_CASE("parse_id takes decimal ids from 1 to 2^53 - 1 and nothing else", "[http_types]") {
  CHECK(gw::parse_id("1") == 1u);
  CHECK(gw::parse_id("42") == 42u);
  CHECK(gw::parse_id("9007199254740991") == 9007199254740991u);   // 2^53 - 1, the last one
  CHECK_FALSE(gw::parse_id("9007199254740992").has_value());      // 2^53
  CHECK_FALSE(gw::parse_id("18446744073709551615").has_value());  // 2^64 - 1
  CHECK_FALSE(gw::parse_id("18446744073709551616").has_value());  // overflows 64 bits
  CHECK_FALSE(gw::parse_id("99999999999999999999999").has_value());
  CHECK_FALSE(gw::parse_id("0").has_value());
  CHECK_FALSE(gw::parse_id("").has_value());
  CHECK_FALSE(gw::parse_id("abc").has_value());
  CHECK_FALSE(gw::parse_id("12a").has_value());
  CHECK_FALSE(gw::parse_id("1.5").has_value());
  CHECK_FALSE(gw::parse_id("-1").has_value());
  CHECK_FALSE(gw::parse_id("+1").has_value());
  CHECK_FALSE(gw::parse_id(" 1").has_value());
  CHECK_FALSE(gw::parse_id("1 ").has_value());
  CHECK_FALSE(gw::parse_id("1/read").has_value());
}
