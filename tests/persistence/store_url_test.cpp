#include "persistence/store_url.hpp"

#include <catch2/catch.hpp>

#include "persistence/store.hpp"

using namespace herald::persistence;

TEST_CASE("a mysql URL gives user, password, host, port and database") {
  auto u = parse_mysql_url("mysql://herald:s3cret@db.example:3307/herald");
  CHECK(u.user == "herald");
  CHECK(u.password == "s3cret");
  CHECK(u.host == "db.example");
  CHECK(u.port == 3307);
  CHECK(u.database == "herald");
}

TEST_CASE("a mysql URL without a port uses 3306 and unescapes credentials") {
  auto u = parse_mysql_url("mysql://me:p%40ss%3Aw@127.0.0.1/db");
  CHECK(u.port == 3306);
  CHECK(u.password == "p@ss:w");
  CHECK(u.host == "127.0.0.1");
}

TEST_CASE("malformed store URLs are refused with a message") {
  for (const char* bad : {"mysql://host/db", "mysql://u:p@host:0/db", "mysql://u:p@host:99999/db",
                          "mysql://u:p@host:12x/db", "mysql://u:p@host", "mysql://u:p@/db",
                          "mysql://u:p@host/", "mysql://u:p@host/db?ssl=1", "mysql://u:p%4@h/d"}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_mysql_url(bad), std::invalid_argument);
    CHECK_FALSE(check_store_url(bad).empty());
  }
  CHECK_THROWS_AS(open_store("postgres://x"), std::invalid_argument);
  CHECK_THROWS_AS(open_store("sqlite:"), std::invalid_argument);
  CHECK(check_store_url("redis://x").find("expected") != std::string::npos);
  CHECK(check_store_url("sqlite:herald.db").empty());
  CHECK(check_store_url("mysql://u:p@h:1/d").empty());
}

TEST_CASE("an unreachable mysql server is store_unavailable, not a bad setting") {
  CHECK_THROWS_AS(open_store("mysql://u:p@127.0.0.1:1/d"), store_unavailable);
}

TEST_CASE("a sqlite file in a missing directory is store_unavailable") {
  CHECK_THROWS_AS(open_store("sqlite:/nonexistent-dir/x/herald.db"), store_unavailable);
}
