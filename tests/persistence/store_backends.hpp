// Test support: a fresh, migrated database per test case on each backend, and short ways to
// build notify requests. STORE_CASE runs one body on SQLite and on MySQL.
#pragma once
#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>

#include "persistence/store.hpp"

namespace herald::test {

constexpr std::int64_t t0 = 1'800'000'000'000;  // a fixed "now" in ms
constexpr std::int64_t default_ttl_s = 90 * 86400;

class backend {
 public:
  backend(std::string name, std::string url, std::string file);
  ~backend();
  backend(const backend&) = delete;
  backend& operator=(const backend&) = delete;
  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }
  // A new connection to this test's database.
  std::unique_ptr<persistence::store> open() const;

 private:
  std::string name_, url_, file_;
};

// An empty SQLite file, migrated; removed afterwards.
std::unique_ptr<backend> fresh_sqlite();
// The MySQL test database emptied and migrated; nullptr (after a WARN) when
// HERALD_TEST_MYSQL_URL is unset, a failure when HERALD_REQUIRE_MYSQL=1.
std::unique_ptr<backend> fresh_mysql();

// A validated request from a notify body (JSON), for `now_ms`.
persistence::insert_request request(const std::string& body, std::int64_t now_ms = t0,
                                    std::int64_t online = 0);
// Stores one request; returns its result.
persistence::insert_result insert(persistence::store& s, const std::string& body,
                                  std::int64_t now_ms = t0);
// Stores a personal item for user; returns its id.
std::uint64_t add_personal(persistence::store& s, std::uint64_t user, std::int64_t now_ms = t0);

persistence::viewer user(std::uint64_t id, std::vector<std::string> groups = {});

// Every visible item (status all or unread) by paging list_inbox; newest first.
std::vector<proto::notification> list_all(persistence::store& s, const persistence::viewer& v,
                                          bool unread_only, std::int64_t now_ms = t0);

}  // namespace herald::test

#define HERALD_CAT2(a, b) a##b
#define HERALD_CAT(a, b) HERALD_CAT2(a, b)
#define STORE_CASE_IMPL(title, tags, fn)                                              \
  static void fn(const herald::test::backend& b);                                     \
  TEST_CASE("sqlite: " title, "[sqlite]" tags) { fn(*herald::test::fresh_sqlite()); } \
  TEST_CASE("mysql: " title, "[mysql]" tags) {                                        \
    if (auto mb = herald::test::fresh_mysql()) fn(*mb);                               \
  }                                                                                   \
  static void fn(const herald::test::backend& b)
#define STORE_CASE(title, tags) STORE_CASE_IMPL(title, tags, HERALD_CAT(store_case_, __LINE__))
