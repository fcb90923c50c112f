#include "persistence/sqlite/sqlite_store.hpp"

#include <sqlite3.h>

#include <cerrno>

namespace herald::persistence {
namespace {

constexpr int busy_timeout_ms = 10000;

// Resets a statement when a call is done with it, whatever happened.
struct statement_reset {
  sqlite3_stmt* s;
  ~statement_reset() {
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
  }
};

}  // namespace

sqlite_store::sqlite_store(const std::string& path, std::size_t statement_cache)
    : sql_store(sqlite_dialect()), statement_cache_(statement_cache ? statement_cache : 1) {
  const int rc =
      sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw store_unavailable("sqlite: cannot open " + path + ": " + why);
  }
  sqlite3_busy_timeout(db_, busy_timeout_ms);
  sqlite3_extended_result_codes(db_, 1);
  // Keep the -wal and -shm files when the last connection closes: a Herald started again on a
  // full disk then finds them and can read (creating them needs space).
  int persist_wal = 1;
  sqlite3_file_control(db_, "main", SQLITE_FCNTL_PERSIST_WAL, &persist_wal);
  try {
    run("PRAGMA journal_mode = WAL");
    // FULL: a notify answered 200 survives power loss too; group commit keeps fsyncs rare.
    run("PRAGMA synchronous = FULL");
    run("PRAGMA foreign_keys = ON");
  } catch (...) {
    sqlite3_close(db_);
    db_ = nullptr;
    throw;
  }
}

sqlite_store::~sqlite_store() {
  statements_.clear();
  for (auto& c : lru_) sqlite3_finalize(c.stmt);
  sqlite3_close(db_);
}

std::size_t sqlite_store::prepared_statements() const {
  std::size_t n = 0;
  for (sqlite3_stmt* s = sqlite3_next_stmt(db_, nullptr); s; s = sqlite3_next_stmt(db_, s)) ++n;
  return n;
}

void sqlite_store::fail(int rc, const std::string& what) {
  const int primary = rc & 0xff;
  std::string msg = "sqlite: " + what + ": " + sqlite3_errmsg(db_);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) throw sql_retry(msg);
  if (rc == SQLITE_CONSTRAINT_FOREIGNKEY) throw sql_missing_parent(msg);
  // No room to write (a full disk, or a write that ran out of space in the WAL or shared memory).
  if (primary == SQLITE_FULL || rc == SQLITE_IOERR_WRITE || rc == SQLITE_IOERR_SHMSIZE) {
    if (primary == SQLITE_FULL || sqlite3_system_errno(db_) == ENOSPC) throw store_full(msg);
  }
  if (primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN || primary == SQLITE_FULL ||
      primary == SQLITE_READONLY || primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    throw store_unavailable(msg);
  }
  throw std::runtime_error(msg);
}

void sqlite_store::run(const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) fail(rc, sql);
}

sqlite3_stmt* sqlite_store::prepare(const std::string& sql, const sql_params& params) {
  // An LRU of prepared statements: batch reads of many shapes would otherwise keep one
  // statement (and its memory) per shape for the life of the connection.
  auto it = statements_.find(sql);
  if (it != statements_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
  } else {
    sqlite3_stmt* fresh = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &fresh, nullptr);
    if (rc != SQLITE_OK) fail(rc, "prepare " + sql);
    while (lru_.size() >= statement_cache_) {
      statements_.erase(lru_.back().sql);
      sqlite3_finalize(lru_.back().stmt);
      lru_.pop_back();
    }
    lru_.push_front(cached{sql, fresh});
    statements_.emplace(lru_.front().sql, lru_.begin());
  }
  sqlite3_stmt* s = lru_.front().stmt;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int at = static_cast<int>(i) + 1;
    int rc = SQLITE_OK;
    const sql_param& p = params[i];
    if (p.kind == sql_param::type::integer) {
      rc = sqlite3_bind_int64(s, at, p.integer);
    } else if (p.kind == sql_param::type::text) {
      rc = sqlite3_bind_text(s, at, p.text.data(), static_cast<int>(p.text.size()), SQLITE_STATIC);
    } else {
      rc = sqlite3_bind_null(s, at);
    }
    if (rc != SQLITE_OK) {
      sqlite3_reset(s);
      sqlite3_clear_bindings(s);
      fail(rc, "bind");
    }
  }
  return s;
}

std::int64_t sqlite_store::exec(const std::string& sql, const sql_params& params) {
  sqlite3_stmt* s = prepare(sql, params);
  statement_reset reset{s};
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) fail(rc, sql);
  return sqlite3_changes(db_);
}

std::vector<sql_row> sqlite_store::query(const std::string& sql, const sql_params& params) {
  sqlite3_stmt* s = prepare(sql, params);
  statement_reset reset{s};
  std::vector<sql_row> rows;
  const int columns = sqlite3_column_count(s);
  int rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    sql_row row;
    row.cells.reserve(columns);
    for (int c = 0; c < columns; ++c) {
      if (sqlite3_column_type(s, c) == SQLITE_NULL) {
        row.cells.emplace_back(std::nullopt);
      } else {
        const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, c));
        row.cells.emplace_back(
            std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(s, c))));
      }
    }
    rows.push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) fail(rc, sql);
  return rows;
}

void sqlite_store::begin_tx(bool write) { run(write ? "BEGIN IMMEDIATE" : "BEGIN"); }

void sqlite_store::commit_tx() { run("COMMIT"); }

void sqlite_store::rollback_tx() noexcept {
  if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

// DDL is transactional in SQLite: the write lock serializes nodes and a failed step leaves
// nothing behind.
void sqlite_store::lock_schema() {
  for (int attempt = 0;; ++attempt) {
    try {
      run("BEGIN IMMEDIATE");
      return;
    } catch (const sql_retry&) {
      if (attempt == 5) throw;
    }
  }
}

void sqlite_store::unlock_schema(bool ok) {
  if (ok) {
    run("COMMIT");
  } else {
    rollback_tx();
  }
}

}  // namespace herald::persistence
