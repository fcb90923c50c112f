// The SQLite backend: one file, WAL, a busy timeout, foreign keys, statements prepared once per
// connection. Writers serialize on SQLite's write lock (BEGIN IMMEDIATE); readers see a
// snapshot and never block. One instance is one connection: not thread-safe.
#pragma once
#include <list>
#include <string>
#include <unordered_map>

#include "persistence/sql_store.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace herald::persistence {

class sqlite_store final : public sql_store {
 public:
  // Statements kept prepared per connection; the least recently used is finalized past it.
  static constexpr std::size_t default_statement_cache = 256;
  // Opens (creating) the database file; throws store_unavailable when it cannot.
  explicit sqlite_store(const std::string& path,
                        std::size_t statement_cache = default_statement_cache);
  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  // Statements in the cache, and statements the connection holds prepared (tests).
  std::size_t cached_statements() const { return lru_.size(); }
  std::size_t prepared_statements() const;

 protected:
  std::int64_t exec(const std::string& sql, const sql_params& params) override;
  std::vector<sql_row> query(const std::string& sql, const sql_params& params) override;
  void begin_tx(bool write) override;
  void commit_tx() override;
  void rollback_tx() noexcept override;
  void lock_schema() override;
  void unlock_schema(bool ok) override;

 private:
  sqlite3_stmt* prepare(const std::string& sql, const sql_params& params);
  void run(const char* sql);
  [[noreturn]] void fail(int rc, const std::string& what);

  struct cached {
    std::string sql;
    sqlite3_stmt* stmt;
  };
  sqlite3* db_ = nullptr;
  std::size_t statement_cache_;
  std::list<cached> lru_;  // most recently used first
  std::unordered_map<std::string_view, std::list<cached>::iterator> statements_;  // keys view lru_
};

}  // namespace herald::persistence
