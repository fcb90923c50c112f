#include "persistence/store_pool.hpp"

#include <unordered_map>

namespace herald::persistence {
namespace {

// Each pool thread's connections, one per pool (a thread belongs to one pool, but keying by
// pool keeps this correct if that ever changes). Closed when the thread exits.
thread_local std::unordered_map<const store_pool*, std::unique_ptr<store_connection>> connections;

}  // namespace

store_pool::store_pool(std::string url, unsigned threads, std::chrono::milliseconds timeout)
    : url_(std::move(url)),
      watch_(timeout),
      patient_watch_(4 * timeout),
      pool_(threads == 0 ? 1 : threads) {}

store_pool::~store_pool() { stop(); }

void store_pool::stop() { pool_.join(); }

store_connection& store_pool::connection() {
  auto& slot = connections[this];
  if (!slot) slot = std::make_unique<store_connection>(url_);
  return *slot;
}

}  // namespace herald::persistence
