#include "persistence/mysql/mysql_store.hpp"

#include <cppconn/connection.h>
#include <cppconn/datatype.h>
#include <cppconn/driver.h>
#include <cppconn/exception.h>
#include <cppconn/prepared_statement.h>
#include <cppconn/resultset.h>
#include <cppconn/resultset_metadata.h>
#include <cppconn/statement.h>
#include <algorithm>
#include <mutex>

#include "persistence/call_deadline.hpp"

namespace herald::persistence {
namespace {

constexpr std::size_t max_cached_statements = 256;

// Client and server error codes that mean the connection is gone or unusable.
bool connection_error(int code) {
  switch (code) {
    case 1040:  // too many connections
    case 1053:  // server shutdown in progress
    case 1152:  // aborted connection
    case 1927:  // connection was killed
    case 2002:  // cannot connect through socket
    case 2003:  // cannot connect to server
    case 2005:  // unknown host
    case 2006:  // server has gone away
    case 2013:  // lost connection during query
    case 2026:  // SSL connection error
    case 2055:  // lost connection at reading/sending
    case 4031:  // disconnected by the server (inactivity)
      return true;
    default:
      return false;
  }
}

// The server cannot write: disk full (ER_DISK_FULL), table full (ER_RECORD_FILE_FULL), or the
// engine's "no space left on device" (error 28 from the storage engine).
bool full_error(int code, const std::string& what) {
  return code == 1021 || code == 1114 ||
         (code == 1030 && what.find("error 28 ") != std::string::npos);
}

bool retry_error(int code) {
  return code == 1213      // deadlock: InnoDB rolled the transaction back
         || code == 1205   // lock wait timeout
         || code == 1020;  // record changed since last read
}

std::mutex driver_mutex;  // get_driver_instance() and connect() are not thread-safe

}  // namespace

mysql_store::mysql_store(const mysql_url& url) : sql_store(mysql_dialect()) {
  try {
    sql::ConnectOptionsMap options;
    options["hostName"] = sql::SQLString("tcp://" + url.host + ":" + std::to_string(url.port));
    options["userName"] = sql::SQLString(url.user);
    options["password"] = sql::SQLString(url.password);
    options["schema"] = sql::SQLString(url.database);
    // With a call deadline, a thread stuck on a frozen server comes back soon after it (the
    // caller was answered at the deadline already); reads get at least 10 s for long statements.
    const auto deadline_s = static_cast<int>((call_timeout().count() + 999) / 1000);
    options["OPT_CONNECT_TIMEOUT"] = deadline_s > 0 ? std::min(deadline_s, 5) : 5;
    options["OPT_READ_TIMEOUT"] = deadline_s > 0 ? std::max(2 * deadline_s, 10) : 60;
    options["OPT_WRITE_TIMEOUT"] = deadline_s > 0 ? std::max(2 * deadline_s, 10) : 60;
    options["OPT_RECONNECT"] = false;
    options["OPT_CHARSET_NAME"] = sql::SQLString("utf8mb4");
    {
      std::lock_guard lock(driver_mutex);
      conn_.reset(get_driver_instance()->connect(options));
    }
    plain_.reset(conn_->createStatement());
    plain_->execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ");
    plain_->execute(
        "SET SESSION sql_mode = "
        "'STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'");
    plain_->execute("SET SESSION innodb_lock_wait_timeout = 10");
    plain_->execute("SET NAMES utf8mb4 COLLATE utf8mb4_bin");
  } catch (const sql::SQLException& e) {
    throw store_unavailable("mysql: cannot connect to " + url.host + ":" +
                            std::to_string(url.port) + "/" + url.database + ": " + e.what() + " (" +
                            std::to_string(e.getErrorCode()) + ")");
  }
}

mysql_store::~mysql_store() {
  statements_.clear();
  plain_.reset();
  if (conn_) {
    try {
      conn_->close();
    } catch (...) {
    }
  }
}

void mysql_store::check_usable() const {
  if (broken_) throw store_unavailable("mysql: the connection was lost");
}

void mysql_store::fail(const sql::SQLException& e, const std::string& what) {
  const int code = e.getErrorCode();
  std::string msg = "mysql: " + what + ": " + e.what() + " (" + std::to_string(code) + ")";
  if (retry_error(code)) throw sql_retry(msg);
  if (code == 1452) throw sql_missing_parent(msg);  // only the statement was rolled back
  if (full_error(code, e.what())) throw store_full(msg);
  if (connection_error(code) || e.getSQLState().rfind("08", 0) == 0) {
    broken_ = true;
    throw store_unavailable(msg);
  }
  throw std::runtime_error(msg);
}

void mysql_store::run(const std::string& sql) {
  check_usable();
  try {
    plain_->execute(sql);
  } catch (const sql::SQLException& e) {
    fail(e, sql);
  }
}

sql::PreparedStatement& mysql_store::prepare(const std::string& sql, const sql_params& params) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    if (statements_.size() >= max_cached_statements) statements_.clear();
    it = statements_
             .emplace(sql, std::unique_ptr<sql::PreparedStatement>(conn_->prepareStatement(sql)))
             .first;
  }
  sql::PreparedStatement& s = *it->second;
  for (std::size_t i = 0; i < params.size(); ++i) {
    const auto at = static_cast<unsigned int>(i + 1);
    const sql_param& p = params[i];
    if (p.kind == sql_param::type::integer) {
      s.setInt64(at, p.integer);
    } else if (p.kind == sql_param::type::text) {
      s.setString(at, sql::SQLString(p.text));
    } else {
      s.setNull(at, sql::DataType::VARCHAR);
    }
  }
  return s;
}

std::int64_t mysql_store::exec(const std::string& sql, const sql_params& params) {
  check_usable();
  try {
    if (params.empty() && sql.rfind("UPDATE", 0) != 0 && sql.rfind("INSERT", 0) != 0 &&
        sql.rfind("DELETE", 0) != 0) {
      plain_->execute(sql);  // DDL and session statements need no prepared form
      return 0;
    }
    return prepare(sql, params).executeUpdate();
  } catch (const sql::SQLException& e) {
    fail(e, sql);
  }
}

std::vector<sql_row> mysql_store::query(const std::string& sql, const sql_params& params) {
  check_usable();
  try {
    std::unique_ptr<sql::ResultSet> rs(prepare(sql, params).executeQuery());
    const unsigned columns = rs->getMetaData()->getColumnCount();
    std::vector<sql_row> rows;
    while (rs->next()) {
      sql_row row;
      row.cells.reserve(columns);
      for (unsigned c = 1; c <= columns; ++c) {
        if (rs->isNull(c)) {
          row.cells.emplace_back(std::nullopt);
        } else {
          row.cells.emplace_back(rs->getString(c).asStdString());
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  } catch (const sql::SQLException& e) {
    fail(e, sql);
  }
}

void mysql_store::begin_tx(bool write) {
  run(write ? "START TRANSACTION" : "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY");
}

void mysql_store::commit_tx() { run("COMMIT"); }

void mysql_store::rollback_tx() noexcept {
  if (broken_) return;
  try {
    plain_->execute("ROLLBACK");
  } catch (...) {
    broken_ = true;
  }
}

// MySQL commits DDL implicitly, so the lock is a named server lock held across the steps; each
// step is written to be re-run safely (IF NOT EXISTS) should a node die half-way.
void mysql_store::lock_schema() {
  auto rows = query("SELECT GET_LOCK('herald_migrate', 60)", {});
  if (rows.empty() || rows[0].i64(0) != 1) {
    throw store_unavailable("mysql: timed out waiting for another node's schema migration");
  }
}

void mysql_store::unlock_schema(bool) { query("SELECT RELEASE_LOCK('herald_migrate')", {}); }

}  // namespace herald::persistence
