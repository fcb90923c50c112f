#include "connection_manager/send_queue.hpp"

namespace herald::cm {

bool send_queue::push(outgoing o) {
  bytes_ += o.size();
  items_.push_back(std::move(o));
  return bytes_ <= max_bytes_;
}

bool send_queue::push_count(outgoing o) {
  // Only the newest count matters: drop a queued one that is not on the wire, and append the
  // new one last so that it follows every frame queued before it.
  const std::size_t first = head_ + (in_flight_ ? 1 : 0);
  for (std::size_t i = items_.size(); i > first; --i) {
    if (items_[i - 1].is_count) {
      bytes_ -= items_[i - 1].size();
      items_.erase(items_.begin() + static_cast<std::ptrdiff_t>(i - 1));
      break;
    }
  }
  return push(std::move(o));
}

void send_queue::pop_front() {
  bytes_ -= items_[head_].size();
  items_[head_].body.reset();
  ++head_;
  in_flight_ = false;
  if (head_ == items_.size()) {
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 64) items_.shrink_to_fit();  // give back a burst's memory
  }
}

void send_queue::clear() {
  items_.clear();
  items_.shrink_to_fit();
  head_ = 0;
  bytes_ = 0;
  in_flight_ = false;
}

}  // namespace herald::cm
