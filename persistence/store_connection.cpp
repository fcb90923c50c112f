#include "persistence/store_connection.hpp"

namespace herald::persistence {

store& store_connection::checked(bool& fresh) {
  const auto now = std::chrono::steady_clock::now();
  if (db_ && now - last_used_ > idle_check_) {
    try {
      db_->ping();
    } catch (const std::exception&) {
      db_.reset();
    }
  }
  fresh = !db_;
  if (!db_) db_ = open_store(url_);
  last_used_ = now;
  return *db_;
}

}  // namespace herald::persistence
