#include "gateway/ws_framing.hpp"

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

namespace ws = herald::gateway::ws;

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
