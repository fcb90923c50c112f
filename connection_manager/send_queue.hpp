// A session's outgoing frames with a byte cap. Entries share their large part (an immutable
// frame or notification prefix) and carry a small per-session tail (the unread count), so a
// broadcast costs no allocation per recipient. Not thread-safe: one session's thread only.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace herald::cm {

struct outgoing {
  std::shared_ptr<const std::string> body;
  std::array<char, 32> tail{};
  std::uint8_t tail_len = 0;
  bool is_count = false;      // a `count` frame: a newer one replaces a queued one
  std::uint8_t opcode = 0x1;  // WebSocket opcode: text, or a control frame (ping, pong, close)

  std::size_t size() const { return body->size() + tail_len; }
};

class send_queue {
 public:
  explicit send_queue(std::size_t max_bytes) : max_bytes_(max_bytes) {}

  // Appends a frame. Returns false when the queue now holds more than max_bytes (the caller
  // closes the session: it resyncs on reconnect).
  bool push(outgoing o);
  // Appends a count frame, or rewrites the tail of a queued one that is not being written.
  bool push_count(outgoing o);

  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  std::size_t bytes() const { return bytes_; }
  // The frame being written stays at the front until pop_front().
  outgoing& front() { return items_[head_]; }
  const outgoing& at(std::size_t i) const { return items_[head_ + i]; }
  // The front frame is partly written: push_count must not replace it.
  void set_in_flight(bool v) { in_flight_ = v; }
  void pop_front();
  void clear();

 private:
  std::vector<outgoing> items_;
  std::size_t bytes_ = 0;
  std::size_t max_bytes_;
  std::uint32_t head_ = 0;  // fewer frames than 2^32: the byte cap is at most 4 GiB
  bool in_flight_ = false;
};

}  // namespace herald::cm
