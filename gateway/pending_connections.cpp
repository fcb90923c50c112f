#include "gateway/pending_connections.hpp"

namespace herald::gateway {

namespace {
std::string address_key(const boost::asio::ip::address& a) {
  // v4-mapped v6 addresses count as their v4 address.
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}
}  // namespace

pending_connections::pending_connections(std::size_t max_total, std::size_t max_per_address)
    : max_total_(max_total), max_per_address_(max_per_address) {}

pending_connections::admission pending_connections::add(const std::weak_ptr<http_session>& s,
                                                        const boost::asio::ip::address& from) {
  admission out;
  const std::string key = address_key(from);
  std::lock_guard lock(mu_);
  auto& n = per_address_[key];
  if (max_per_address_ != 0 && n >= max_per_address_) {
    out.v = verdict::address_full;
    if (n == 0) per_address_.erase(key);
    return out;
  }
  while (by_age_.size() >= max_total_ && !by_age_.empty()) {
    auto oldest = by_age_.begin();
    out.evicted.push_back(oldest->second.session);
    erase_locked(oldest);
  }
  out.id = next_id_++;
  by_age_.emplace(out.id, entry{s, from});
  ++per_address_[key];
  return out;
}

void pending_connections::erase_locked(std::map<std::uint64_t, entry>::iterator it) {
  auto a = per_address_.find(address_key(it->second.from));
  if (a != per_address_.end() && --a->second == 0) per_address_.erase(a);
  by_age_.erase(it);
}

void pending_connections::remove(std::uint64_t id) {
  if (id == 0) return;
  std::lock_guard lock(mu_);
  auto it = by_age_.find(id);
  if (it != by_age_.end()) erase_locked(it);
}

std::vector<std::weak_ptr<http_session>> pending_connections::take_oldest(std::size_t n) {
  std::vector<std::weak_ptr<http_session>> out;
  std::lock_guard lock(mu_);
  while (n-- > 0 && !by_age_.empty()) {
    out.push_back(by_age_.begin()->second.session);
    erase_locked(by_age_.begin());
  }
  return out;
}

std::size_t pending_connections::size() const {
  std::lock_guard lock(mu_);
  return by_age_.size();
}

}  // namespace herald::gateway
