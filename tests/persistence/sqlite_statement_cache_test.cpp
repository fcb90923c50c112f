// The SQLite backend's prepared-statement cache is bounded: reads of many batch shapes keep at
// most the cap prepared, the least recently used going first.
#include "persistence/sqlite/sqlite_store.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "tests/persistence/store_backends.hpp"

using namespace herald;
using namespace herald::test;

namespace {

struct temp_db {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("herald-stmt-cache-" + std::to_string(::getpid()) + ".db");
  ~temp_db() {
    for (const char* ext : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + ext);
  }
};

// Batch reads of many shapes: 1..16 viewers, each with 0..3 groups, with and without a page.
void read_many_shapes(persistence::sqlite_store& s) {
  static const std::vector<std::string> groups{"org/1", "role/2", "job/3"};
  for (std::size_t n = 1; n <= 16; ++n) {
    for (std::size_t g = 0; g <= groups.size(); ++g) {
      for (bool page : {false, true}) {
        std::vector<persistence::read_request> reads;
        for (std::size_t i = 0; i < n; ++i) {
          persistence::read_request r;
          r.who =
              user(100 + i, std::vector<std::string>(
                                groups.begin(),
                                groups.begin() + static_cast<long>((g + i) % (groups.size() + 1))));
          if (page) r.page = persistence::inbox_query{};
          reads.push_back(std::move(r));
        }
        REQUIRE(s.read_batch(reads, t0).size() == n);
      }
    }
  }
}

}  // namespace

TEST_CASE("reads of many batch shapes keep at most the cap of statements prepared",
          "[sqlite][statements]") {
  temp_db db;
  {
    // Positive control: with room for all, the shapes really are many distinct statements.
    persistence::sqlite_store roomy(db.path.string(), 100000);
    roomy.migrate();
    insert(roomy, R"({"user_id":-1,"title":"everyone"})");
    insert(roomy, R"({"audience":"org/1","title":"org"})");
    read_many_shapes(roomy);
    CHECK(roomy.cached_statements() > 40);
    CHECK(roomy.prepared_statements() == roomy.cached_statements());
  }
  persistence::sqlite_store capped(db.path.string(), 16);
  read_many_shapes(capped);
  CHECK(capped.cached_statements() == 16);
  // The connection itself holds no more than the cache (evicted statements are finalized).
  CHECK(capped.prepared_statements() <= 16);
  // A second pass of the same shapes still answers and still stays within the cap.
  read_many_shapes(capped);
  CHECK(capped.prepared_statements() <= 16);
}

TEST_CASE("the default statement cache is bounded", "[sqlite][statements]") {
  CHECK(persistence::sqlite_store::default_statement_cache == 256);
}
