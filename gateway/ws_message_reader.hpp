// The read side of a WebSocket connection (RFC 6455, server role): bytes in; whole messages,
// pings, pongs, closes and protocol errors out. Fragment assembly, UTF-8 validation of text
// (failing on the first bad fragment), close-frame checks and canonical length encodings all
// live here; the reader does no I/O, so it is tested and fuzzed on byte sequences alone.
// Not thread-safe: one session's thread.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/utf8_validator.hpp"

namespace herald::gateway::ws {

// Close codes Herald sends (RFC 6455 section 7.4.1, and the 4xxx codes of API.md).
namespace close_code {
inline constexpr std::uint16_t normal = 1000;
inline constexpr std::uint16_t going_away = 1001;
inline constexpr std::uint16_t protocol_error = 1002;
inline constexpr std::uint16_t invalid_payload = 1007;  // text that is not UTF-8
inline constexpr std::uint16_t policy = 1008;           // evicted past the per-user cap
inline constexpr std::uint16_t too_big = 1009;
inline constexpr std::uint16_t try_again_later = 1013;  // slow client, store unavailable
inline constexpr std::uint16_t token_expired = 4001;
inline constexpr std::uint16_t forbidden = 4003;  // revoked, or a token of another user
}  // namespace close_code

class message_reader {
 public:
  enum class kind {
    none,     // nothing complete yet: read more bytes
    message,  // a whole data message: opcode (text or binary) and payload
    ping,     // payload
    pong,
    close,  // a valid close from the peer: code (1005 when the frame had no payload)
    error,  // the peer broke the protocol: close with `code`; nothing more is parsed
  };
  struct event {
    kind what = kind::none;
    std::uint8_t opcode = 0;
    std::string_view payload;  // valid until the next call to next() or prepare()
    std::uint16_t code = 0;    // close: the peer's code; error: the code to close with
    const char* reason = "";   // error: why, for the close frame
  };

  // `max_message` bounds a data message's payload (fragments together); past it: error 1009.
  explicit message_reader(std::size_t max_message)
      : max_message_(static_cast<std::uint32_t>(std::min<std::size_t>(max_message, 1u << 30))) {}

  // Room for at least `n` more bytes; write into it and then commit() what was written.
  std::span<std::uint8_t> prepare(std::size_t n);
  void commit(std::size_t n) { end_ += static_cast<std::uint32_t>(n); }
  // The next complete event, or kind::none when more bytes are needed.
  event next();
  // Drops consumed bytes; frees the buffers when nothing is pending (idle connections keep none).
  void compact();

  bool failed() const { return failed_; }
  // Bytes received and not yet parsed into events.
  std::size_t pending() const { return end_ - begin_; }
  // Largest buffer this reader will hold: a whole frame at the limit plus its header.
  std::size_t buffer_limit() const { return std::size_t{max_message_} + 14; }

 private:
  event fail(std::uint16_t code, const char* reason);

  // Offsets and the limit fit in 32 bits: the buffer never exceeds buffer_limit() (the limit is
  // capped at 1 GiB; the configuration allows 16 MiB).
  std::uint32_t max_message_;
  std::vector<std::uint8_t> buf_;
  std::uint32_t begin_ = 0, end_ = 0;
  std::unique_ptr<std::string> message_;  // fragments of a message being assembled (rare)
  bool in_message_ = false;
  std::uint8_t message_op_ = 0;
  utf8_validator utf8_;  // state across a text message's fragments
  bool failed_ = false;
};

}  // namespace herald::gateway::ws
