// The MySQL/MariaDB backend (Connector/C++ 1.1): InnoDB, utf8mb4, REPEATABLE READ so a read
// transaction sees one snapshot (unread count and its watermark agree). Writes rely on locking
// reads and conditional UPDATEs, which see the latest committed rows. Lock conflicts
// (deadlock, lock wait timeout) are retried by sql_store; lost connections become
// store_unavailable. One instance is one connection: not thread-safe.
#pragma once
#include <memory>
#include <string>
#include <unordered_map>

#include "persistence/sql_store.hpp"
#include "persistence/store_url.hpp"

namespace sql {
class Connection;
class PreparedStatement;
class SQLException;
class Statement;
}  // namespace sql

namespace herald::persistence {

class mysql_store final : public sql_store {
 public:
  // Connects; throws store_unavailable when the server cannot be reached or refuses us.
  explicit mysql_store(const mysql_url& url);
  ~mysql_store() override;
  mysql_store(const mysql_store&) = delete;
  mysql_store& operator=(const mysql_store&) = delete;

 protected:
  std::int64_t exec(const std::string& sql, const sql_params& params) override;
  std::vector<sql_row> query(const std::string& sql, const sql_params& params) override;
  void begin_tx(bool write) override;
  void commit_tx() override;
  void rollback_tx() noexcept override;
  void lock_schema() override;
  void unlock_schema(bool ok) override;

 private:
  sql::PreparedStatement& prepare(const std::string& sql, const sql_params& params);
  void run(const std::string& sql);
  [[noreturn]] void fail(const sql::SQLException& e, const std::string& what);
  void check_usable() const;

  std::unique_ptr<sql::Connection> conn_;
  std::unique_ptr<sql::Statement> plain_;
  std::unordered_map<std::string, std::unique_ptr<sql::PreparedStatement>> statements_;
  bool broken_ = false;  // the connection failed; the owner must open a new store
};

}  // namespace herald::persistence
