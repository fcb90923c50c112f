#include "gateway/ws_message_reader.hpp"

#include <algorithm>
#include <cstring>

#include "gateway/ws_framing.hpp"

namespace herald::gateway::ws {

namespace {

bool known_opcode(std::uint8_t op) {
  return op == continuation || op == text || op == binary || op == close || op == ping ||
         op == pong;
}

// Codes a peer may send in a close frame (RFC 6455 section 7.4).
bool valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

std::span<std::uint8_t> message_reader::prepare(std::size_t n) {
  if (buf_.size() - end_ < n && begin_ > 0) compact();
  if (buf_.size() - end_ < n) buf_.resize(std::min(buffer_limit(), end_ + n));
  return {buf_.data() + end_, buf_.size() - end_};
}

void message_reader::compact() {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    std::vector<std::uint8_t>().swap(buf_);
    if (!in_message_) message_.reset();
    return;
  }
  if (begin_ == 0) return;
  std::memmove(buf_.data(), buf_.data() + begin_, end_ - begin_);
  end_ -= begin_;
  begin_ = 0;
}

message_reader::event message_reader::fail(std::uint16_t code, const char* reason) {
  failed_ = true;
  event e;
  e.what = kind::error;
  e.code = code;
  e.reason = reason;
  return e;
}

message_reader::event message_reader::next() {
  if (failed_) return {};
  if (!in_message_ && message_) message_->clear();  // the last assembled message was taken
  for (;;) {
    std::uint8_t* d = buf_.data() + begin_;
    const std::size_t n = end_ - begin_;
    if (n < 2) return {};
    const bool fin = (d[0] & 0x80) != 0;
    const std::uint8_t op = d[0] & 0x0F;
    if ((d[0] & 0x70) != 0) return fail(close_code::protocol_error, "reserved bits set");
    if ((d[1] & 0x80) == 0) return fail(close_code::protocol_error, "client frames must be masked");
    if (!known_opcode(op)) return fail(close_code::protocol_error, "unknown opcode");
    const bool control = (op & 0x8) != 0;
    if (!control) {
      // Order errors show on the header: no need to wait for the payload.
      if (op == continuation && !in_message_) {
        return fail(close_code::protocol_error, "continuation without a message");
      }
      if (op != continuation && in_message_) {
        return fail(close_code::protocol_error, "a new message inside a fragmented one");
      }
    }
    std::uint64_t len = d[1] & 0x7F;
    std::size_t pos = 2;
    if (len == 126) {
      if (n < 4) return {};
      len = (static_cast<std::uint64_t>(d[2]) << 8) | d[3];
      if (len < 126) return fail(close_code::protocol_error, "length not in its shortest form");
      pos = 4;
    } else if (len == 127) {
      if (n < 10) return {};
      if (d[2] & 0x80)
        return fail(close_code::protocol_error, "64-bit length with the top bit set");
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | d[2 + i];
      if (len <= 0xFFFF) return fail(close_code::protocol_error, "length not in its shortest form");
      pos = 10;
    }
    if (control && (len > 125 || !fin)) {
      return fail(close_code::protocol_error, "control frames must be final and at most 125 bytes");
    }
    if (!control) {
      const std::size_t limit = max_message_;
      const std::size_t room = limit - std::min(message_ ? message_->size() : 0, limit);
      if (len > room) return fail(close_code::too_big, "message too large");
    }
    if (n < pos + 4) return {};
    const std::uint8_t* mask = d + pos;
    pos += 4;
    if (n - pos < len) return {};
    std::uint8_t* p = d + pos;
    const auto size = static_cast<std::size_t>(len);
    for (std::size_t i = 0; i < size; ++i) p[i] ^= mask[i & 3];
    begin_ += static_cast<std::uint32_t>(pos + size);
    const std::string_view payload(reinterpret_cast<const char*>(p), size);

    event e;
    switch (op) {
      case close: {
        if (size == 1)
          return fail(close_code::protocol_error, "close frame with a one-byte payload");
        e.what = kind::close;
        e.code = 1005;  // no status code present
        if (size >= 2) {
          e.code = static_cast<std::uint16_t>((p[0] << 8) | p[1]);
          if (!valid_close_code(e.code))
            return fail(close_code::protocol_error, "invalid close code");
          if (!valid_utf8(payload.substr(2))) {
            return fail(close_code::invalid_payload, "close reason is not UTF-8");
          }
        }
        e.payload = payload;
        return e;
      }
      case ping:
      case pong:
        e.what = op == ping ? kind::ping : kind::pong;
        e.payload = payload;
        return e;
      case continuation:
        if (message_op_ == text && !utf8_.feed(payload)) {
          return fail(close_code::invalid_payload, "text message is not UTF-8");
        }
        message_->append(payload);
        if (!fin) continue;
        if (message_op_ == text && !utf8_.complete()) {
          return fail(close_code::invalid_payload, "text message is not UTF-8");
        }
        in_message_ = false;
        e.what = kind::message;
        e.opcode = message_op_;
        e.payload = *message_;
        return e;
      default:  // text or binary, first frame of a message
        utf8_.reset();
        if (op == text && !utf8_.feed(payload)) {
          return fail(close_code::invalid_payload, "text message is not UTF-8");
        }
        if (!fin) {
          in_message_ = true;
          message_op_ = op;
          if (!message_) message_ = std::make_unique<std::string>();
          message_->assign(payload);
          continue;
        }
        if (op == text && !utf8_.complete()) {
          return fail(close_code::invalid_payload, "text message is not UTF-8");
        }
        e.what = kind::message;
        e.opcode = op;
        e.payload = payload;
        return e;
    }
  }
}

}  // namespace herald::gateway::ws
