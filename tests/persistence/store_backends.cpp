#include "tests/persistence/store_backends.hpp"

#include <unistd.h>
#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "persistence/sql_store.hpp"
#include "proto/notify_request.hpp"

namespace herald::test {

backend::backend(std::string name, std::string url, std::string file)
    : name_(std::move(name)), url_(std::move(url)), file_(std::move(file)) {}

backend::~backend() {
  if (file_.empty()) return;
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(file_ + suffix, ec);
}

std::unique_ptr<persistence::store> backend::open() const { return persistence::open_store(url_); }

std::unique_ptr<backend> fresh_sqlite() {
  static std::atomic<int> counter{0};
  const auto file =
      (std::filesystem::temp_directory_path() / ("herald-store-test-" + std::to_string(::getpid()) +
                                                 "-" + std::to_string(counter++) + ".db"))
          .string();
  auto b = std::make_unique<backend>("sqlite", "sqlite:" + file, file);
  b->open()->migrate();
  return b;
}

std::unique_ptr<backend> fresh_mysql() {
  const char* url = std::getenv("HERALD_TEST_MYSQL_URL");
  if (!url || !*url) {
    const char* require = std::getenv("HERALD_REQUIRE_MYSQL");
    if (require && std::string(require) == "1") {
      FAIL("HERALD_REQUIRE_MYSQL=1 but HERALD_TEST_MYSQL_URL is not set");
    }
    WARN("MySQL case skipped: HERALD_TEST_MYSQL_URL is not set");
    return nullptr;
  }
  auto b = std::make_unique<backend>("mysql", url, "");
  auto s = b->open();
  auto* sql = dynamic_cast<persistence::sql_store*>(s.get());
  REQUIRE(sql != nullptr);
  sql->drop_schema();
  sql->migrate();
  return b;
}

persistence::insert_request request(const std::string& body, std::int64_t now_ms,
                                    std::int64_t online) {
  auto parsed = proto::parse_notify(body);
  if (auto* err = std::get_if<proto::api_error>(&parsed)) {
    FAIL("bad test body " << body << ": " << err->message);
  }
  persistence::insert_request r;
  r.request = std::get<proto::notify_request>(std::move(parsed));
  r.now_ms = now_ms;
  r.default_ttl_s = default_ttl_s;
  r.online = online;
  return r;
}

persistence::insert_result insert(persistence::store& s, const std::string& body,
                                  std::int64_t now_ms) {
  auto results = s.insert_batch({request(body, now_ms)});
  REQUIRE(results.size() == 1);
  return results[0];
}

std::uint64_t add_personal(persistence::store& s, std::uint64_t user, std::int64_t now_ms) {
  auto r = insert(s, R"({"user_id":)" + std::to_string(user) + R"(,"title":"hello"})", now_ms);
  REQUIRE(r.items.size() == 1);
  return r.items[0].id;
}

persistence::viewer user(std::uint64_t id, std::vector<std::string> groups) {
  persistence::viewer v;
  v.user_id = id;
  v.groups = proto::group_set::from_claims(groups);
  return v;
}

std::vector<proto::notification> list_all(persistence::store& s, const persistence::viewer& v,
                                          bool unread_only, std::int64_t now_ms) {
  std::vector<proto::notification> out;
  persistence::inbox_query q;
  q.limit = 100;
  q.unread_only = unread_only;
  for (int pages = 0; pages < 100000; ++pages) {
    auto page = s.list_inbox(v, q, now_ms);
    out.insert(out.end(), page.items.begin(), page.items.end());
    if (!page.next_before) break;
    q.before = page.next_before;
  }
  return out;
}

}  // namespace herald::test
