#include "proto/notify_request.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace herald::proto;
using nlohmann::json;

namespace {

notify_request accepted(std::string_view body) {
  auto r = parse_notify(body);
  if (auto* e = std::get_if<api_error>(&r)) FAIL("refused: " << e->field << ": " << e->message);
  return std::get<notify_request>(std::move(r));
}

// Refused with 400 invalid_argument naming `field`.
void refused(std::string_view body, const std::string& field) {
  INFO(body);
  auto r = parse_notify(body);
  REQUIRE(std::holds_alternative<api_error>(r));
  const auto& e = std::get<api_error>(r);
  CHECK(e.status == 400);
  CHECK(e.code == "invalid_argument");
  CHECK(e.field == field);
  CHECK_FALSE(e.message.empty());
}

// A valid body for user 1 with one field set to `value` (raw JSON).
std::string with(const std::string& name, const std::string& value) {
  std::string body = R"({"user_id":1)";
  if (name != "title") body += R"(,"title":"t")";
  return body + ",\"" + name + "\":" + value + "}";
}

std::string as_json(const std::string& s) { return json(s).dump(); }

std::string repeat(std::string_view unit, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out.append(unit);
  return out;
}

std::string id_array(int n, int first = 1) {
  json a = json::array();
  for (int i = 0; i < n; ++i) a.push_back(first + i);
  return a.dump();
}

}  // namespace

TEST_CASE("a minimal body gets the documented defaults") {
  const auto r = accepted(R"({"user_id":42,"title":"Hi"})");
  CHECK(r.target == target_kind::user);
  CHECK(r.user_id == 42);
  CHECK(r.title == "Hi");
  CHECK(r.content == "");
  CHECK_FALSE(r.sender);
  CHECK(r.data_json.empty());
  CHECK(r.persist);
  CHECK(r.desktop);
  CHECK(r.keep == retention::normal);
  CHECK_FALSE(r.ttl_s);
  CHECK_FALSE(r.idempotency_key);
}

TEST_CASE("the contract's example body is read field by field") {
  const auto r = accepted(R"({"user_id": 42, "title": "Order shipped", "content": "on its way",
      "sender": "orders", "data": {"order": 7, "tags": ["a", "b"]}, "persist": false,
      "desktop": false, "retention": "normal", "ttl_s": 7776000,
      "idempotency_key": "order-7-shipped"})");
  CHECK(r.content == "on its way");
  CHECK(r.sender == std::optional<std::string>("orders"));
  CHECK(r.data_json == R"({"order":7,"tags":["a","b"]})");
  CHECK_FALSE(r.persist);
  CHECK_FALSE(r.desktop);
  CHECK(r.ttl_s == std::optional<std::int64_t>(7776000));
  CHECK(r.idempotency_key == std::optional<std::string>("order-7-shipped"));
}

TEST_CASE("unknown fields are ignored") {
  CHECK(accepted(R"({"user_id":1,"title":"t","priority":"high","x":{"y":1}})").user_id == 1);
}

TEST_CASE("a body that is not a JSON object is refused naming body") {
  refused("", "body");
  refused("not json", "body");
  refused(R"({"user_id":1,"title":"t")", "body");
  refused("[]", "body");
  refused("42", "body");
  refused(R"("text")", "body");
  refused("null", "body");
  refused("{\"user_id\":1,\"title\":\"\xFF\"}", "body");  // invalid UTF-8 inside the JSON text
}

TEST_CASE("exactly one target is required") {
  refused(R"({"title":"t"})", "user_id");
  refused(R"({"user_id":null,"title":"t"})", "user_id");
  for (const auto* body : {R"({"user_id":1,"user_ids":[2],"title":"t"})",
                           R"({"user_id":1,"audience":"org/1","title":"t"})",
                           R"({"user_ids":[2],"audience":"org/1","title":"t"})",
                           R"({"user_id":1,"user_ids":[2],"audience":"*","title":"t"})"}) {
    INFO(body);
    auto r = parse_notify(body);
    REQUIRE(std::holds_alternative<api_error>(r));
    const auto& field = std::get<api_error>(r).field;
    CHECK((field == "user_id" || field == "user_ids" || field == "audience"));
  }
}

TEST_CASE("user_id -1 and audience * both mean everyone") {
  CHECK(accepted(R"({"user_id":-1,"title":"t"})").target == target_kind::everyone);
  CHECK(accepted(R"({"audience":"*","title":"t"})").target == target_kind::everyone);
}

TEST_CASE("user_id is a positive integer up to 2^53-1") {
  CHECK(accepted(R"({"user_id":1,"title":"t"})").user_id == 1);
  CHECK(accepted(R"({"user_id":9007199254740991,"title":"t"})").user_id == max_safe_id);
  refused(R"({"user_id":9007199254740992,"title":"t"})", "user_id");
  refused(R"({"user_id":18446744073709551615,"title":"t"})", "user_id");
  refused(R"({"user_id":99999999999999999999999,"title":"t"})", "user_id");
  refused(R"({"user_id":0,"title":"t"})", "user_id");
  refused(R"({"user_id":-2,"title":"t"})", "user_id");
  refused(R"({"user_id":1.5,"title":"t"})", "user_id");
  refused(R"({"user_id":42.0,"title":"t"})", "user_id");
  refused(R"({"user_id":1e2,"title":"t"})", "user_id");
  refused(R"({"user_id":"42","title":"t"})", "user_id");
  refused(R"({"user_id":true,"title":"t"})", "user_id");
  refused(R"({"user_id":[1],"title":"t"})", "user_id");
}

TEST_CASE("user_ids keep their order") {
  const auto r = accepted(R"({"user_ids":[5,3,9],"title":"t"})");
  CHECK(r.target == target_kind::users);
  CHECK(r.user_ids == std::vector<std::uint64_t>{5, 3, 9});
}

TEST_CASE("user_ids holds 1 to 1000 ids") {
  CHECK(accepted(R"({"user_ids":)" + id_array(1000) + R"(,"title":"t"})").user_ids.size() == 1000);
  refused(R"({"user_ids":)" + id_array(1001) + R"(,"title":"t"})", "user_ids");
  refused(R"({"user_ids":[],"title":"t"})", "user_ids");
}

TEST_CASE("user_ids refuses duplicates and bad ids") {
  refused(R"({"user_ids":[1,2,1],"title":"t"})", "user_ids");
  refused(R"({"user_ids":[1,0],"title":"t"})", "user_ids");
  refused(R"({"user_ids":[-1],"title":"t"})", "user_ids");
  refused(R"({"user_ids":[1.0],"title":"t"})", "user_ids");
  refused(R"({"user_ids":["1"],"title":"t"})", "user_ids");
  refused(R"({"user_ids":[null],"title":"t"})", "user_ids");
  refused(R"({"user_ids":[9007199254740992],"title":"t"})", "user_ids");
  refused(R"({"user_ids":1,"title":"t"})", "user_ids");
  CHECK(accepted(R"({"user_ids":[9007199254740991],"title":"t"})").user_ids[0] == max_safe_id);
}

TEST_CASE("a group audience is parsed into canonical form") {
  const auto r = accepted(R"({"audience":"role/3/org/1","title":"t"})");
  CHECK(r.target == target_kind::group);
  REQUIRE(r.group);
  CHECK(r.group->canonical() == "org/1/role/3");
}

TEST_CASE("a bad audience is refused naming audience") {
  refused(R"({"audience":"","title":"t"})", "audience");
  refused(R"({"audience":"org","title":"t"})", "audience");
  refused(R"({"audience":"org/1/org/1","title":"t"})", "audience");
  refused(R"({"audience":"Org/1","title":"t"})", "audience");
  refused(R"({"audience":"org/a.b","title":"t"})", "audience");
  refused(R"({"audience":"a/1/b/1/c/1/d/1/e/1/f/1/g/1/h/1/i/1","title":"t"})", "audience");
  refused(R"({"audience":["org/1"],"title":"t"})", "audience");
  refused(R"({"audience":1,"title":"t"})", "audience");
  CHECK(accepted(R"({"audience":"a/1/b/1/c/1/d/1/e/1/f/1/g/1/h/1","title":"t"})").group);
}

TEST_CASE("title is required and must be a string") {
  refused(R"({"user_id":1})", "title");
  refused(R"({"user_id":1,"title":null})", "title");
  refused(R"({"user_id":1,"title":5})", "title");
  refused(R"({"user_id":1,"title":["t"]})", "title");
  refused(R"({"user_id":1,"title":""})", "title");
}

TEST_CASE("title is 1 to 200 code points, multibyte characters counted once") {
  const std::string han = "\xE4\xBD\xA0";        // 3 bytes, 1 code point
  const std::string emoji = "\xF0\x9F\x98\x80";  // 4 bytes, 1 code point
  CHECK(accepted(with("title", as_json(repeat(han, 200)))).title.size() == 600);
  refused(with("title", as_json(repeat(han, 201))), "title");
  CHECK(accepted(with("title", as_json(repeat(emoji, 200)))).title.size() == 800);
  refused(with("title", as_json(repeat(emoji, 201))), "title");
  CHECK(accepted(with("title", as_json(repeat("a", 200)))).title.size() == 200);
  refused(with("title", as_json(repeat("a", 201))), "title");
  CHECK(accepted(with("title", as_json("\xC3\xA9"))).title == "\xC3\xA9");
}

TEST_CASE("escaped characters in the title are decoded before counting") {
  CHECK(accepted(with("title", "\"" + repeat("\\u4f60", 200) + "\"")).title ==
        repeat("\xE4\xBD\xA0", 200));
  refused(with("title", "\"" + repeat("\\u4f60", 201) + "\""), "title");
}

TEST_CASE("content is a string of at most 16384 bytes") {
  CHECK(accepted(with("content", as_json(std::string(16384, 'c')))).content.size() == 16384);
  refused(with("content", as_json(std::string(16385, 'c'))), "content");
  CHECK(accepted(with("content", as_json(repeat("\xE4\xBD\xA0", 5461) + "a"))).content.size() ==
        16384);
  refused(with("content", as_json(repeat("\xE4\xBD\xA0", 5462))), "content");
  refused(with("content", "5"), "content");
  refused(with("content", "{}"), "content");
  CHECK(accepted(with("content", "null")).content == "");
  CHECK(accepted(with("content", R"("")")).content == "");
}

TEST_CASE("sender is an optional string") {
  CHECK(accepted(with("sender", R"("billing")")).sender == std::optional<std::string>("billing"));
  CHECK_FALSE(accepted(with("sender", "null")).sender);
  refused(with("sender", "7"), "sender");
  refused(with("sender", "true"), "sender");
  CHECK(accepted(with("sender", as_json(repeat("\xE4\xBD\xA0", 200)))).sender);
  refused(with("sender", as_json(std::string(201, 's'))), "sender");
}

TEST_CASE("data is a JSON object stored as compact JSON") {
  CHECK(accepted(with("data", R"({ "a" : [1, 2], "b" : {"c": null} })")).data_json ==
        R"({"a":[1,2],"b":{"c":null}})");
  CHECK(accepted(with("data", "{}")).data_json == "{}");
  CHECK(accepted(with("data", "null")).data_json.empty());
  refused(with("data", "[]"), "data");
  refused(with("data", R"("x")"), "data");
  refused(with("data", "1"), "data");
}

TEST_CASE("data is at most 4096 bytes as compact JSON") {
  // {"k":"..."} is 8 bytes plus the value.
  const auto data_of = [](std::size_t bytes) {
    return R"({"k":")" + std::string(bytes - 8, 'v') + "\"}";
  };
  CHECK(accepted(with("data", data_of(4096))).data_json.size() == 4096);
  refused(with("data", data_of(4097)), "data");
  // Whitespace in the request does not count: only the compact form is measured.
  const auto spaced = R"({ "k" :   ")" + std::string(4088, 'v') + "\"   }";
  CHECK(accepted(with("data", spaced)).data_json.size() == 4096);
}

TEST_CASE("persist and desktop are booleans") {
  CHECK_FALSE(accepted(with("persist", "false")).persist);
  CHECK(accepted(with("persist", "true")).persist);
  CHECK_FALSE(accepted(with("desktop", "false")).desktop);
  CHECK(accepted(with("desktop", "null")).desktop);
  refused(with("persist", R"("yes")"), "persist");
  refused(with("persist", "1"), "persist");
  refused(with("desktop", R"("false")"), "desktop");
  refused(with("desktop", "0"), "desktop");
}

TEST_CASE("retention is normal or important") {
  CHECK(accepted(with("retention", R"("normal")")).keep == retention::normal);
  CHECK(accepted(with("retention", R"("important")")).keep == retention::important);
  refused(with("retention", R"("forever")"), "retention");
  refused(with("retention", R"("Important")"), "retention");
  refused(with("retention", "1"), "retention");
}

TEST_CASE("ttl_s is a positive integer") {
  CHECK(accepted(with("ttl_s", "1")).ttl_s == std::optional<std::int64_t>(1));
  CHECK(accepted(with("ttl_s", "3153600000")).ttl_s == std::optional<std::int64_t>(3153600000));
  refused(with("ttl_s", "3153600001"), "ttl_s");
  refused(with("ttl_s", "0"), "ttl_s");
  refused(with("ttl_s", "-5"), "ttl_s");
  refused(with("ttl_s", "1.5"), "ttl_s");
  refused(with("ttl_s", "60.0"), "ttl_s");
  refused(with("ttl_s", R"("60")"), "ttl_s");
  refused(with("ttl_s", "9007199254740992"), "ttl_s");
}

TEST_CASE("ttl_s with important retention is refused") {
  refused(R"({"user_id":1,"title":"t","retention":"important","ttl_s":60})", "ttl_s");
  refused(R"({"user_id":1,"title":"t","ttl_s":60,"retention":"important"})", "ttl_s");
  const auto r = accepted(R"({"user_id":1,"title":"t","retention":"important"})");
  CHECK(r.keep == retention::important);
  CHECK_FALSE(r.ttl_s);
}

TEST_CASE("idempotency_key is 1 to 255 bytes") {
  CHECK(accepted(with("idempotency_key", as_json(std::string(255, 'k')))).idempotency_key->size() ==
        255);
  CHECK(accepted(with("idempotency_key", R"("k")")).idempotency_key ==
        std::optional<std::string>("k"));
  refused(with("idempotency_key", as_json(std::string(256, 'k'))), "idempotency_key");
  refused(with("idempotency_key", R"("")"), "idempotency_key");
  refused(with("idempotency_key", "12"), "idempotency_key");
}

TEST_CASE("an already parsed value is validated the same way") {
  const json good = {{"user_id", 7}, {"title", "t"}};
  REQUIRE(std::holds_alternative<notify_request>(parse_notify_json(good)));
  CHECK(std::get<notify_request>(parse_notify_json(good)).user_id == 7);
  const json negative = {{"user_id", -1}, {"title", "t"}};
  CHECK(std::get<notify_request>(parse_notify_json(negative)).target == target_kind::everyone);
  const json bad_utf8 = {{"user_id", 7}, {"title", "\xFF"}};
  REQUIRE(std::holds_alternative<api_error>(parse_notify_json(bad_utf8)));
  CHECK(std::get<api_error>(parse_notify_json(bad_utf8)).field == "title");
  CHECK(std::get<api_error>(parse_notify_json(json::array())).field == "body");
}

TEST_CASE("a batch gives one result per entry") {
  auto r = parse_notify_batch(
      R"({"notifications":[{"user_id":1,"title":"a"},{"user_id":1},[],{"audience":"*","title":"c"}]})");
  REQUIRE(std::holds_alternative<std::vector<notify_parse_result>>(r));
  const auto& results = std::get<std::vector<notify_parse_result>>(r);
  REQUIRE(results.size() == 4);
  CHECK(std::get<notify_request>(results[0]).title == "a");
  CHECK(std::get<api_error>(results[1]).field == "title");
  CHECK(std::get<api_error>(results[2]).field == "body");
  CHECK(std::get<notify_request>(results[3]).target == target_kind::everyone);
}

TEST_CASE("a batch holds 1 to 1000 entries") {
  std::string entries;
  for (int i = 0; i < 1001; ++i)
    entries += std::string(i ? "," : "") + R"({"user_id":1,"title":"t"})";
  auto over = parse_notify_batch(R"({"notifications":[)" + entries + "]}");
  REQUIRE(std::holds_alternative<api_error>(over));
  CHECK(std::get<api_error>(over).field == "notifications");
  entries.resize(entries.rfind(",{"));
  auto full = parse_notify_batch(R"({"notifications":[)" + entries + "]}");
  REQUIRE(std::holds_alternative<std::vector<notify_parse_result>>(full));
  CHECK(std::get<std::vector<notify_parse_result>>(full).size() == 1000);
}

TEST_CASE("a batch body of the wrong shape is one error") {
  const auto field_of = [](std::string_view body) {
    auto r = parse_notify_batch(body);
    REQUIRE(std::holds_alternative<api_error>(r));
    CHECK(std::get<api_error>(r).status == 400);
    return std::get<api_error>(r).field;
  };
  CHECK(field_of("nope") == "body");
  CHECK(field_of("[]") == "body");
  CHECK(field_of("{}") == "notifications");
  CHECK(field_of(R"({"notifications":[]})") == "notifications");
  CHECK(field_of(R"({"notifications":{}})") == "notifications");
  CHECK(field_of(R"({"notifications":null})") == "notifications");
}

TEST_CASE("the answer for one target names the stored id") {
  const auto r = accepted(R"({"user_id":1,"title":"t"})");
  CHECK(encode_notify_answer(r, {123}, 2) == R"({"id":123,"online":2})");
  CHECK(encode_notify_answer(r, {}, 0) == R"({"id":null,"online":0})");
}

TEST_CASE("the answer for user_ids lists one id per user, null when not persisted") {
  const auto r = accepted(R"({"user_ids":[4,5,6],"title":"t"})");
  CHECK(encode_notify_answer(r, {10, 11, 12}, 3) == R"({"ids":[10,11,12],"online":3})");
  CHECK(encode_notify_answer(r, {}, 1) == R"({"ids":[null,null,null],"online":1})");
  const auto j = json::parse(encode_notify_answer(r, {}, 1));
  CHECK(j["ids"].size() == 3);
}

TEST_CASE("a body nested past 32 levels is refused naming the field, before any recursive parse",
          "[notify][depth]") {
  auto nest = [](std::size_t n) {
    std::string v;
    for (std::size_t i = 0; i < n; ++i) v += "{\"a\":";
    v += "1";
    for (std::size_t i = 0; i < n; ++i) v += "}";
    return v;
  };
  // 31 levels inside the body's own object: accepted (positive control).
  accepted(R"({"user_id":1,"title":"t","data":)" + nest(30) + "}");
  refused(R"({"user_id":1,"title":"t","data":)" + nest(32) + "}", "data");
  // The 100,000-deep case that overflowed the stack in dump().
  refused(R"({"user_id":1,"title":"t","data":)" + nest(100000) + "}", "data");
  refused(std::string(100000, '[') + std::string(100000, ']'), "body");
}

TEST_CASE("a batch entry nested past 32 levels is refused naming the entry's field",
          "[notify][depth]") {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "[";
  for (int i = 0; i < 100000; ++i) deep += "]";
  auto r = parse_notify_batch(R"({"notifications":[{"user_id":1,"title":"t","data":{"k":)" + deep +
                              "}}]}");
  REQUIRE(std::holds_alternative<api_error>(r));
  CHECK(std::get<api_error>(r).status == 400);
  CHECK(std::get<api_error>(r).field == "data");
  // The same entry depth as a single body is accepted in a batch.
  std::string ok = "1";
  for (int i = 0; i < 29; ++i) ok = "{\"a\":" + ok + "}";
  auto fine =
      parse_notify_batch(R"({"notifications":[{"user_id":1,"title":"t","data":)" + ok + "}]}");
  REQUIRE(std::holds_alternative<std::vector<notify_parse_result>>(fine));
  CHECK(std::holds_alternative<notify_request>(
      std::get<std::vector<notify_parse_result>>(fine).at(0)));
}
