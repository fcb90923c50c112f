// The connections of one listener that have not authenticated yet (no valid token or API key
// seen), oldest first, with a count per source address: the bounds an idle flood runs into.
// Thread-safe (one mutex; sessions on every I/O thread add and remove themselves).
#pragma once
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace herald::gateway {

class http_session;

class pending_connections {
 public:
  // `max_per_address` 0: no cap per address.
  pending_connections(std::size_t max_total, std::size_t max_per_address);

  enum class verdict { admitted, address_full };
  struct admission {
    verdict v = verdict::admitted;
    std::uint64_t id = 0;  // for remove(); 0 when not admitted
    // Sessions taken off the list to make room (the oldest when the listener is at its cap);
    // the caller sheds them.
    std::vector<std::weak_ptr<http_session>> evicted;
  };
  admission add(const std::weak_ptr<http_session>& s, const boost::asio::ip::address& from);
  // Idempotent; a session that was evicted or shed is no longer listed.
  void remove(std::uint64_t id);
  // Takes up to n of the oldest off the list, for the caller to shed.
  std::vector<std::weak_ptr<http_session>> take_oldest(std::size_t n);
  std::size_t size() const;

 private:
  struct entry {
    std::weak_ptr<http_session> session;
    boost::asio::ip::address from;
  };
  void erase_locked(std::map<std::uint64_t, entry>::iterator it);

  const std::size_t max_total_;
  const std::size_t max_per_address_;
  mutable std::mutex mu_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, entry> by_age_;  // ids grow with time: begin() is the oldest
  std::unordered_map<std::string, std::size_t> per_address_;
};

}  // namespace herald::gateway
