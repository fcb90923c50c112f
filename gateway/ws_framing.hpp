// WebSocket wire format (RFC 6455) for Herald's sessions: the opening handshake's accept key,
// server frame headers, and parsing of masked client frames. Pure functions; thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::gateway::ws {

enum opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// True for a Sec-WebSocket-Key of the right form (base64 of 16 bytes).
bool valid_client_key(std::string_view key);
// Sec-WebSocket-Accept for a client key.
std::string accept_key(std::string_view client_key);

// Writes an unmasked, final frame header for `len` payload bytes; returns its size (2, 4, 10).
std::size_t server_header(std::uint8_t op, std::size_t len, std::uint8_t* out);
inline std::size_t server_header_size(std::size_t len) { return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10; }

struct client_frame {
  std::uint8_t op = 0;
  bool fin = false;
  std::uint8_t* payload = nullptr;  // unmasked in place
  std::size_t size = 0;
};

enum class parse_status {
  incomplete,      // need more bytes
  frame,           // one frame parsed; `consumed` bytes used
  protocol_error,  // close 1002
  too_big,         // the payload is past the limit: close 1009
};

// Parses one client frame from data[0..n). Control frames must be final and at most 125 bytes;
// client frames must be masked; reserved bits must be zero. `max_payload` bounds a data frame.
parse_status parse_client_frame(std::uint8_t* data, std::size_t n, std::size_t max_payload, client_frame& f,
                                std::size_t& consumed);

}  // namespace herald::gateway::ws
