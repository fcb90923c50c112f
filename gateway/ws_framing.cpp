#include "gateway/ws_framing.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace herald::gateway::ws {

bool valid_client_key(std::string_view key) {
  // 16 bytes in base64: 22 characters and "==".
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (std::size_t i = 0; i < 22; ++i) {
    const char c = key[i];
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

std::string accept_key(std::string_view client_key) {
  static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string in(client_key);
  in += guid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  const int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<const char*>(out), static_cast<std::size_t>(n));
}

std::size_t server_header(std::uint8_t op, std::size_t len, std::uint8_t* h) {
  h[0] = static_cast<std::uint8_t>(0x80 | op);
  if (len < 126) {
    h[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<std::uint8_t>(static_cast<std::uint64_t>(len) >> (56 - 8 * i));
  return 10;
}

parse_status parse_client_frame(std::uint8_t* data, std::size_t n, std::size_t max_payload, client_frame& f,
                                std::size_t& consumed) {
  if (n < 2) return parse_status::incomplete;
  const std::uint8_t b0 = data[0], b1 = data[1];
  f.fin = (b0 & 0x80) != 0;
  f.op = b0 & 0x0F;
  if ((b0 & 0x70) != 0) return parse_status::protocol_error;  // no extension was agreed
  if ((b1 & 0x80) == 0) return parse_status::protocol_error;  // clients must mask
  const bool control = (f.op & 0x8) != 0;
  const bool known = f.op == continuation || f.op == text || f.op == binary || f.op == close || f.op == ping ||
                     f.op == pong;
  if (!known) return parse_status::protocol_error;
  std::uint64_t len = b1 & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    if (n < 4) return parse_status::incomplete;
    len = (static_cast<std::uint64_t>(data[2]) << 8) | data[3];
    pos = 4;
  } else if (len == 127) {
    if (n < 10) return parse_status::incomplete;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | data[2 + i];
    pos = 10;
  }
  if (control && (len > 125 || !f.fin)) return parse_status::protocol_error;
  if (!control && len > max_payload) return parse_status::too_big;
  if (n < pos + 4) return parse_status::incomplete;
  const std::uint8_t* mask = data + pos;
  pos += 4;
  if (n - pos < len) return parse_status::incomplete;
  f.payload = data + pos;
  f.size = static_cast<std::size_t>(len);
  for (std::size_t i = 0; i < f.size; ++i) f.payload[i] ^= mask[i & 3];
  consumed = pos + f.size;
  return parse_status::frame;
}

}  // namespace herald::gateway::ws
