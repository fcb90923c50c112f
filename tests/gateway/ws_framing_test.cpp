#include "gateway/ws_framing.hpp"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ws = herald::gateway::ws;
using status = ws::parse_status;

namespace {

constexpr std::array<std::uint8_t, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};

// A client frame as a browser sends it: masked, with the shortest length encoding.
std::vector<std::uint8_t> client_frame(std::uint8_t op, const std::string& payload, bool fin = true,
                                       std::uint8_t rsv = 0) {
  std::vector<std::uint8_t> out;
  out.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | rsv | op));
  const std::size_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(0x80 | n));
  } else if (n <= 0xFFFF) {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(0x80 | 127);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (56 - 8 * i)));
  }
  out.insert(out.end(), mask_key.begin(), mask_key.end());
  for (std::size_t i = 0; i < n; ++i) out.push_back(static_cast<std::uint8_t>(payload[i]) ^ mask_key[i & 3]);
  return out;
}

// Only a header (masked) claiming `len` payload bytes, with no mask key or payload after it.
std::vector<std::uint8_t> header_only(std::uint8_t b0, std::uint64_t len) {
  std::vector<std::uint8_t> out{b0};
  if (len < 126) {
    out.push_back(static_cast<std::uint8_t>(0x80 | len));
  } else if (len <= 0xFFFF) {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(0x80 | 127);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(len >> (56 - 8 * i)));
  }
  return out;
}

status parse(std::vector<std::uint8_t>& bytes, std::size_t max, ws::client_frame& f, std::size_t& used) {
  return ws::parse_client_frame(bytes.data(), bytes.size(), max, f, used);
}

std::string payload_of(const ws::client_frame& f) { return std::string(reinterpret_cast<const char*>(f.payload), f.size); }

}  // namespace

TEST_CASE("accept_key matches the example of RFC 6455", "[ws_framing]") {
  CHECK(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST_CASE("valid_client_key takes base64 of 16 bytes and nothing else", "[ws_framing]") {
  CHECK(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(ws::valid_client_key("AAAAAAAAAAAAAAAAAAAAAA=="));
  CHECK(ws::valid_client_key("ab+/0123456789XYZxyzAB=="));
  CHECK_FALSE(ws::valid_client_key(""));
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZQ="));    // 23 characters
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZQ==="));  // 25 characters
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZQAA"));   // no padding: 18 bytes
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25j!Q=="));   // not base64
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25j Q=="));
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZ-_"));
  CHECK_FALSE(ws::valid_client_key("dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ=="));
}

TEST_CASE("server_header uses 7-, 16- and 64-bit lengths at their boundaries", "[ws_framing]") {
  std::array<std::uint8_t, 10> h{};

  SECTION("0 bytes") {
    REQUIRE(ws::server_header(ws::text, 0, h.data()) == 2);
    CHECK(h[0] == 0x81);
    CHECK(h[1] == 0);
    CHECK(ws::server_header_size(0) == 2);
  }
  SECTION("125 bytes") {
    REQUIRE(ws::server_header(ws::text, 125, h.data()) == 2);
    CHECK(h[0] == 0x81);
    CHECK(h[1] == 125);
    CHECK(ws::server_header_size(125) == 2);
  }
  SECTION("126 bytes") {
    REQUIRE(ws::server_header(ws::text, 126, h.data()) == 4);
    CHECK(h[1] == 126);
    CHECK(h[2] == 0);
    CHECK(h[3] == 126);
    CHECK(ws::server_header_size(126) == 4);
  }
  SECTION("65535 bytes") {
    REQUIRE(ws::server_header(ws::binary, 65535, h.data()) == 4);
    CHECK(h[0] == 0x82);
    CHECK(h[1] == 126);
    CHECK(h[2] == 0xFF);
    CHECK(h[3] == 0xFF);
    CHECK(ws::server_header_size(65535) == 4);
  }
  SECTION("65536 bytes") {
    REQUIRE(ws::server_header(ws::text, 65536, h.data()) == 10);
    CHECK(h[1] == 127);
    const std::array<std::uint8_t, 8> want{0, 0, 0, 0, 0, 1, 0, 0};
    for (std::size_t i = 0; i < 8; ++i) CHECK(h[2 + i] == want[i]);
    CHECK(ws::server_header_size(65536) == 10);
  }
  SECTION("control frames are final and unmasked") {
    REQUIRE(ws::server_header(ws::close, 2, h.data()) == 2);
    CHECK(h[0] == 0x88);
    CHECK(h[1] == 2);
    REQUIRE(ws::server_header(ws::ping, 0, h.data()) == 2);
    CHECK(h[0] == 0x89);
    REQUIRE(ws::server_header(ws::pong, 5, h.data()) == 2);
    CHECK(h[0] == 0x8A);
    CHECK(h[1] == 5);
  }
}

TEST_CASE("parse_client_frame unmasks a masked text frame in place", "[ws_framing]") {
  auto bytes = client_frame(ws::text, "Hello");
  ws::client_frame f;
  std::size_t used = 0;
  REQUIRE(parse(bytes, 4096, f, used) == status::frame);
  CHECK(used == bytes.size());
  CHECK(used == 2 + 4 + 5);
  CHECK(f.op == ws::text);
  CHECK(f.fin);
  CHECK(payload_of(f) == "Hello");
  CHECK(f.payload == bytes.data() + 6);
}

TEST_CASE("parse_client_frame reads RFC 6455's masked Hello example", "[ws_framing]") {
  std::vector<std::uint8_t> bytes{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  ws::client_frame f;
  std::size_t used = 0;
  REQUIRE(parse(bytes, 4096, f, used) == status::frame);
  CHECK(used == 11);
  CHECK(payload_of(f) == "Hello");
}

TEST_CASE("parse_client_frame says incomplete at every byte boundary of a frame", "[ws_framing]") {
  for (const std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{125}, std::size_t{126}, std::size_t{300},
                                 std::size_t{65535}, std::size_t{65536}}) {
    std::string payload(size, '\0');
    for (std::size_t i = 0; i < size; ++i) payload[i] = static_cast<char>('a' + i % 26);
    const auto whole = client_frame(ws::text, payload);
    const std::size_t head = size < 126 ? 6 : size <= 0xFFFF ? 8 : 14;
    REQUIRE(whole.size() == head + size);
    // Every prefix short of the whole frame; long payloads are sampled past the header.
    for (std::size_t n = 0; n < whole.size(); n = n < head + 300 ? n + 1 : n + 997) {
      auto part = std::vector<std::uint8_t>(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
      ws::client_frame f;
      std::size_t used = 12345;
      INFO("payload " << size << ", prefix of " << n << " bytes");
      CHECK(ws::parse_client_frame(part.data(), n, 1 << 20, f, used) == status::incomplete);
      CHECK(used == 12345);
      CHECK(std::equal(part.begin(), part.end(), whole.begin()));  // nothing unmasked yet
    }
    auto last = std::vector<std::uint8_t>(whole.begin(), whole.end() - 1);
    ws::client_frame f;
    std::size_t used = 0;
    CHECK(ws::parse_client_frame(last.data(), last.size(), 1 << 20, f, used) == status::incomplete);
    auto all = whole;
    INFO("payload " << size);
    REQUIRE(parse(all, 1 << 20, f, used) == status::frame);
    CHECK(used == whole.size());
    CHECK(payload_of(f) == payload);
  }
}

TEST_CASE("parse_client_frame reads 16-bit and 64-bit payload lengths", "[ws_framing]") {
  ws::client_frame f;
  std::size_t used = 0;

  SECTION("126 bytes use the 16-bit length") {
    const std::string payload(126, 'q');
    auto bytes = client_frame(ws::text, payload);
    REQUIRE(bytes[1] == (0x80 | 126));
    REQUIRE(parse(bytes, 4096, f, used) == status::frame);
    CHECK(used == 8 + 126);
    CHECK(payload_of(f) == payload);
  }
  SECTION("65535 bytes use the 16-bit length") {
    std::string payload(65535, 'r');
    payload.back() = 'z';
    auto bytes = client_frame(ws::binary, payload);
    REQUIRE(parse(bytes, 1 << 20, f, used) == status::frame);
    CHECK(f.op == ws::binary);
    CHECK(used == 8 + 65535);
    CHECK(payload_of(f) == payload);
  }
  SECTION("65536 bytes use the 64-bit length") {
    std::string payload(65536, 's');
    payload.front() = 'a';
    auto bytes = client_frame(ws::text, payload);
    REQUIRE(bytes[1] == (0x80 | 127));
    REQUIRE(parse(bytes, 1 << 20, f, used) == status::frame);
    CHECK(used == 14 + 65536);
    CHECK(payload_of(f) == payload);
  }
  SECTION("a short length in the long encoding is still read") {
    // Not the minimal encoding, but its length is what it says.
    std::vector<std::uint8_t> bytes{0x81, 0x80 | 126, 0, 3};
    bytes.insert(bytes.end(), mask_key.begin(), mask_key.end());
    for (std::size_t i = 0; i < 3; ++i) bytes.push_back(static_cast<std::uint8_t>("abc"[i]) ^ mask_key[i]);
    REQUIRE(parse(bytes, 4096, f, used) == status::frame);
    CHECK(used == 11);
    CHECK(payload_of(f) == "abc");
  }
}

TEST_CASE("parse_client_frame parses consecutive frames one at a time", "[ws_framing]") {
  auto bytes = client_frame(ws::text, "{\"ty", false);
  const auto second = client_frame(ws::continuation, "pe\":\"ping\"}");
  const std::size_t first_size = bytes.size();
  bytes.insert(bytes.end(), second.begin(), second.end());
  ws::client_frame f;
  std::size_t used = 0;
  REQUIRE(parse(bytes, 4096, f, used) == status::frame);
  CHECK(used == first_size);
  CHECK_FALSE(f.fin);
  CHECK(f.op == ws::text);
  CHECK(payload_of(f) == "{\"ty");
  ws::client_frame g;
  REQUIRE(ws::parse_client_frame(bytes.data() + used, bytes.size() - used, 4096, g, used) == status::frame);
  CHECK(g.fin);
  CHECK(g.op == ws::continuation);
  CHECK(payload_of(g) == "pe\":\"ping\"}");
}

TEST_CASE("parse_client_frame reads control frames of up to 125 bytes", "[ws_framing]") {
  ws::client_frame f;
  std::size_t used = 0;
  auto ping = client_frame(ws::ping, std::string(125, 'p'));
  REQUIRE(parse(ping, 10, f, used) == status::frame);  // the data limit does not bound control frames
  CHECK(f.op == ws::ping);
  CHECK(f.size == 125);
  auto close = client_frame(ws::close, std::string("\x03\xe8", 2));
  REQUIRE(parse(close, 4096, f, used) == status::frame);
  CHECK(f.op == ws::close);
  CHECK(payload_of(f) == std::string("\x03\xe8", 2));
  auto pong = client_frame(ws::pong, "");
  REQUIRE(parse(pong, 4096, f, used) == status::frame);
  CHECK(f.op == ws::pong);
  CHECK(f.size == 0);
  CHECK(used == 6);
}

TEST_CASE("parse_client_frame refuses an unmasked client frame", "[ws_framing]") {
  std::vector<std::uint8_t> bytes{0x81, 0x05, 'H', 'e', 'l', 'l', 'o'};
  ws::client_frame f;
  std::size_t used = 0;
  CHECK(parse(bytes, 4096, f, used) == status::protocol_error);
  // As soon as the second byte shows it, before the payload arrives.
  CHECK(ws::parse_client_frame(bytes.data(), 2, 4096, f, used) == status::protocol_error);
}

TEST_CASE("parse_client_frame refuses reserved bits, since no extension is agreed", "[ws_framing]") {
  for (const std::uint8_t rsv : {std::uint8_t{0x40}, std::uint8_t{0x20}, std::uint8_t{0x10}, std::uint8_t{0x70}}) {
    auto bytes = client_frame(ws::text, "hi", true, rsv);
    ws::client_frame f;
    std::size_t used = 0;
    INFO("rsv bits " << int(rsv));
    CHECK(parse(bytes, 4096, f, used) == status::protocol_error);
  }
}

TEST_CASE("parse_client_frame refuses unknown opcodes", "[ws_framing]") {
  for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    auto bytes = client_frame(op, "x");
    ws::client_frame f;
    std::size_t used = 0;
    INFO("opcode " << int(op));
    CHECK(parse(bytes, 4096, f, used) == status::protocol_error);
  }
}

TEST_CASE("parse_client_frame refuses control frames over 125 bytes or not final", "[ws_framing]") {
  ws::client_frame f;
  std::size_t used = 0;
  for (std::uint8_t op : {ws::close, ws::ping, ws::pong}) {
    INFO("opcode " << int(op));
    auto big = client_frame(op, std::string(126, 'x'));
    CHECK(parse(big, 4096, f, used) == status::protocol_error);
    auto header = header_only(static_cast<std::uint8_t>(0x80 | op), 126);  // known from the header alone
    CHECK(parse(header, 4096, f, used) == status::protocol_error);
    auto huge = header_only(static_cast<std::uint8_t>(0x80 | op), 70000);
    CHECK(parse(huge, 4096, f, used) == status::protocol_error);
    auto fragment = client_frame(op, "ab", false);
    CHECK(parse(fragment, 4096, f, used) == status::protocol_error);
  }
}

TEST_CASE("parse_client_frame says too_big for a data frame past the limit before its payload arrives",
          "[ws_framing]") {
  ws::client_frame f;
  std::size_t used = 0;

  SECTION("one byte past the limit, whole frame") {
    auto bytes = client_frame(ws::text, std::string(101, 'x'));
    CHECK(parse(bytes, 100, f, used) == status::too_big);
    auto at_limit = client_frame(ws::text, std::string(100, 'x'));
    CHECK(parse(at_limit, 100, f, used) == status::frame);
  }
  SECTION("7-bit length: the two header bytes suffice") {
    auto bytes = header_only(0x81, 101);
    CHECK(parse(bytes, 100, f, used) == status::too_big);
  }
  SECTION("16-bit length: the four header bytes suffice") {
    auto bytes = header_only(0x81, 5000);
    REQUIRE(bytes.size() == 4);
    CHECK(parse(bytes, 4096, f, used) == status::too_big);
    CHECK(ws::parse_client_frame(bytes.data(), 3, 4096, f, used) == status::incomplete);
  }
  SECTION("64-bit length: the ten header bytes suffice, even for absurd sizes") {
    for (const std::uint64_t len : {std::uint64_t{1} << 20, std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
      auto bytes = header_only(0x82, len);
      REQUIRE(bytes.size() == 10);
      INFO("length " << len);
      CHECK(parse(bytes, 4096, f, used) == status::too_big);
      CHECK(ws::parse_client_frame(bytes.data(), 9, 4096, f, used) == status::incomplete);
    }
  }
  SECTION("continuation frames are bounded by the room left") {
    auto bytes = header_only(0x80 | ws::continuation, 11);
    CHECK(parse(bytes, 10, f, used) == status::too_big);
    auto none_left = header_only(0x80 | ws::continuation, 1);
    CHECK(parse(none_left, 0, f, used) == status::too_big);
  }
}
