// WebSocket wire format (RFC 6455) for Herald's sessions: the opening handshake's accept key
// and server frame headers (client frames: ws_message_reader). Pure functions; thread-safe.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::gateway::ws {

enum opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xA
};

// True for a Sec-WebSocket-Key of the right form (base64 of 16 bytes).
bool valid_client_key(std::string_view key);
// Sec-WebSocket-Accept for a client key.
std::string accept_key(std::string_view client_key);

// Writes an unmasked, final frame header for `len` payload bytes; returns its size (2, 4, 10).
std::size_t server_header(std::uint8_t op, std::size_t len, std::uint8_t* out);
inline std::size_t server_header_size(std::size_t len) {
  return len < 126 ? 2 : len <= 0xFFFF ? 4 : 10;
}

}  // namespace herald::gateway::ws
