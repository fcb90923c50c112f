#include "gateway/ws_message_reader.hpp"

#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gateway/ws_framing.hpp"

namespace ws = herald::gateway::ws;
using kind = ws::message_reader::kind;

namespace {

constexpr std::array<std::uint8_t, 4> mask_key{0x37, 0xfa, 0x21, 0x3d};

// A client frame as a browser sends it: masked, with the shortest length encoding.
std::vector<std::uint8_t> frame(std::uint8_t op, const std::string& payload, bool fin = true,
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
    for (int i = 0; i < 8; ++i)
      out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(n) >> (56 - 8 * i)));
  }
  out.insert(out.end(), mask_key.begin(), mask_key.end());
  for (std::size_t i = 0; i < n; ++i)
    out.push_back(static_cast<std::uint8_t>(payload[i]) ^ mask_key[i & 3]);
  return out;
}

// A masked header with an explicit length encoding (7, 16 or 64 bits), no mask key after it.
std::vector<std::uint8_t> header(std::uint8_t b0, std::uint64_t len, int bits) {
  std::vector<std::uint8_t> out{b0};
  if (bits == 7) {
    out.push_back(static_cast<std::uint8_t>(0x80 | len));
  } else if (bits == 16) {
    out.push_back(0x80 | 126);
    out.push_back(static_cast<std::uint8_t>(len >> 8));
    out.push_back(static_cast<std::uint8_t>(len));
  } else {
    out.push_back(0x80 | 127);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(len >> (56 - 8 * i)));
  }
  return out;
}

std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
  std::vector<std::uint8_t> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

struct seen {
  kind what;
  std::uint8_t opcode;
  std::string payload;
  std::uint16_t code;
};

// Feeds `bytes` in chunks of `chunk` and collects every event, as a session would.
std::vector<seen> read_all(ws::message_reader& r, const std::vector<std::uint8_t>& bytes,
                           std::size_t chunk) {
  std::vector<seen> out;
  std::size_t at = 0;
  while (at < bytes.size() && !r.failed()) {
    auto room = r.prepare(std::min(chunk, bytes.size() - at));
    REQUIRE(!room.empty());
    const std::size_t n = std::min(room.size(), std::min(chunk, bytes.size() - at));
    std::memcpy(room.data(), bytes.data() + at, n);
    r.commit(n);
    at += n;
    for (auto e = r.next(); e.what != kind::none; e = r.next()) {
      out.push_back({e.what, e.opcode, std::string(e.payload), e.code});
      if (e.what == kind::error) break;
    }
    r.compact();
  }
  return out;
}

std::vector<seen> read_all(const std::vector<std::uint8_t>& bytes, std::size_t max = 4096,
                           std::size_t chunk = 1 << 20) {
  ws::message_reader r(max);
  return read_all(r, bytes, chunk);
}

}  // namespace

TEST_CASE("a masked text frame arrives as one message, unmasked (RFC 6455's Hello)",
          "[ws_message_reader]") {
  const std::vector<std::uint8_t> hello{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                        0x7f, 0x9f, 0x4d, 0x51, 0x58};
  auto ev = read_all(hello);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].what == kind::message);
  CHECK(ev[0].opcode == ws::text);
  CHECK(ev[0].payload == "Hello");
}

TEST_CASE("every way of splitting the bytes gives the same events", "[ws_message_reader]") {
  const auto bytes = cat({frame(ws::text, "{\"ty", false), frame(ws::ping, "p1"),
                          frame(ws::continuation, "pe\":", false), frame(ws::continuation, "1}"),
                          frame(ws::text, std::string(300, 'a')),
                          frame(ws::binary, std::string(70000, 'b')), frame(ws::pong, ""),
                          frame(ws::close, std::string("\x03\xe8"
                                                       "bye",
                                                       5))});
  const auto whole = read_all(bytes, 1 << 17);
  REQUIRE(whole.size() == 6);
  CHECK(whole[0].what == kind::ping);
  CHECK(whole[0].payload == "p1");
  CHECK(whole[1].what == kind::message);
  CHECK(whole[1].payload == "{\"type\":1}");
  CHECK(whole[2].payload == std::string(300, 'a'));
  CHECK(whole[3].opcode == ws::binary);
  CHECK(whole[3].payload.size() == 70000);
  CHECK(whole[4].what == kind::pong);
  CHECK(whole[5].what == kind::close);
  CHECK(whole[5].code == 1000);
  for (std::size_t chunk : {1, 2, 3, 7, 64, 1000}) {
    INFO("chunk " << chunk);
    const auto split = read_all(bytes, 1 << 17, chunk);
    REQUIRE(split.size() == whole.size());
    for (std::size_t i = 0; i < split.size(); ++i) {
      CHECK(split[i].what == whole[i].what);
      CHECK(split[i].payload == whole[i].payload);
    }
  }
}

TEST_CASE("a reader holds no buffer once everything it was given is parsed",
          "[ws_message_reader]") {
  ws::message_reader r(4096);
  auto ev = read_all(r, frame(ws::text, "{\"type\":\"ping\"}"), 1024);
  REQUIRE(ev.size() == 1);
  CHECK(r.pending() == 0);
}

TEST_CASE("the protocol errors of the header close with 1002", "[ws_message_reader]") {
  SECTION("unmasked") {
    auto ev = read_all({0x81, 0x05, 'H', 'e', 'l', 'l', 'o'});
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].what == kind::error);
    CHECK(ev[0].code == 1002);
  }
  SECTION("reserved bits") {
    for (std::uint8_t rsv : {0x40, 0x20, 0x10}) {
      auto ev = read_all(frame(ws::text, "hi", true, rsv));
      REQUIRE(ev.size() == 1);
      CHECK(ev[0].code == 1002);
    }
  }
  SECTION("unknown opcodes") {
    for (std::uint8_t op : {3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
      auto ev = read_all(frame(op, "x"));
      REQUIRE(ev.size() == 1);
      CHECK(ev[0].code == 1002);
    }
  }
  SECTION("control frames over 125 bytes or fragmented") {
    for (std::uint8_t op : {ws::close, ws::ping, ws::pong}) {
      CHECK(read_all(frame(op, std::string(126, 'x'))).at(0).code == 1002);
      CHECK(read_all(frame(op, "ab", false)).at(0).code == 1002);
    }
  }
  SECTION("a continuation with no message, and a new message inside one") {
    CHECK(read_all(frame(ws::continuation, "x")).at(0).code == 1002);
    CHECK(read_all(cat({frame(ws::text, "a", false), frame(ws::text, "b")})).at(0).code == 1002);
  }
}

TEST_CASE("lengths must use their shortest encoding, and 64-bit ones fit in 63 bits",
          "[ws_message_reader]") {
  // Positive control: the shortest encodings of 125, 126 and 65536 bytes are read.
  for (std::size_t n : {125, 126, 65536}) {
    auto ev = read_all(frame(ws::binary, std::string(n, 'z')), 1 << 17);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].payload.size() == n);
  }
  auto with_mask = [](std::vector<std::uint8_t> h) {
    h.insert(h.end(), {0, 0, 0, 0, 'a', 'b', 'c'});
    return h;
  };
  CHECK(read_all(with_mask(header(0x82, 3, 16))).at(0).code == 1002);
  CHECK(read_all(with_mask(header(0x82, 125, 16))).at(0).code == 1002);
  CHECK(read_all(header(0x82, 3, 64)).at(0).code == 1002);
  CHECK(read_all(header(0x82, 0xFFFF, 64)).at(0).code == 1002);
  // The top bit: a protocol error, not "too big".
  CHECK(read_all(header(0x82, std::uint64_t{1} << 63, 64)).at(0).code == 1002);
  CHECK(read_all(header(0x82, ~std::uint64_t{0}, 64)).at(0).code == 1002);
}

TEST_CASE("a message past the limit closes with 1009 from its header alone",
          "[ws_message_reader]") {
  CHECK(read_all(frame(ws::text, std::string(100, 'x')), 100).at(0).what ==
        kind::message);  // at the limit
  CHECK(read_all(frame(ws::text, std::string(101, 'x')), 100).at(0).code == 1009);
  CHECK(read_all(header(0x81, 5000, 16), 4096).at(0).code == 1009);
  CHECK(read_all(header(0x82, std::uint64_t{1} << 40, 64), 4096).at(0).code == 1009);
  // Fragments count together.
  auto ev = read_all(cat({frame(ws::text, std::string(60, 'a'), false),
                          frame(ws::continuation, std::string(41, 'b'))}),
                     100);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].code == 1009);
  ev = read_all(cat({frame(ws::text, std::string(60, 'a'), false),
                     frame(ws::continuation, std::string(40, 'b'))}),
                100);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].what == kind::message);
}

TEST_CASE("text that is not UTF-8 closes with 1007, on the first bad fragment",
          "[ws_message_reader]") {
  const char* bad[] = {"\xff",         "\xc0\xaf",         "\xe0\x80\xaf",
                       "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf5\x80\x80\x80",
                       "a\x80"};
  for (const char* b : bad) {
    INFO("bytes " << b);
    CHECK(read_all(frame(ws::text, b)).at(0).code == 1007);
  }
  // Positive controls: valid multi-byte text, and a character split across fragments.
  CHECK(read_all(frame(ws::text, "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80")).at(0).what ==
        kind::message);
  auto split = read_all(cat({frame(ws::text, "\xe2\x82", false), frame(ws::continuation, "\xac")}));
  REQUIRE(split.size() == 1);
  CHECK(split[0].payload == "\xe2\x82\xac");
  // A bad first fragment fails before the message ends.
  auto early = read_all(frame(ws::text, "\xff", false));
  REQUIRE(early.size() == 1);
  CHECK(early[0].code == 1007);
  // A message that ends inside a character.
  CHECK(read_all(cat({frame(ws::text, "a", false), frame(ws::continuation, "\xe2\x82")}))
            .at(0)
            .code == 1007);
  // Binary messages are not text.
  CHECK(read_all(frame(ws::binary, "\xff")).at(0).what == kind::message);
}

TEST_CASE("close frames: codes and reasons are checked", "[ws_message_reader]") {
  auto empty = read_all(frame(ws::close, ""));
  REQUIRE(empty.size() == 1);
  CHECK(empty[0].what == kind::close);
  CHECK(empty[0].code == 1005);
  CHECK(read_all(frame(ws::close, std::string("\x0f\xa0", 2))).at(0).code == 4000);
  CHECK(read_all(frame(ws::close, "\x03")).at(0).what == kind::error);  // one byte
  for (std::uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000}) {
    std::string p{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)};
    INFO("code " << code);
    auto ev = read_all(frame(ws::close, p));
    CHECK(ev.at(0).what == kind::error);
    CHECK(ev.at(0).code == 1002);
  }
  auto bad_reason = read_all(frame(ws::close, std::string("\x03\xe8\xff", 3)));
  CHECK(bad_reason.at(0).what == kind::error);
  CHECK(bad_reason.at(0).code == 1007);
}

TEST_CASE("nothing is parsed after a protocol error", "[ws_message_reader]") {
  ws::message_reader r(4096);
  auto ev = read_all(
      r, cat({frame(ws::text, "ok"), frame(ws::text, "x", true, 0x40), frame(ws::text, "later")}),
      1 << 16);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].payload == "ok");
  CHECK(ev[1].what == kind::error);
  CHECK(r.failed());
  CHECK(r.next().what == kind::none);
}

TEST_CASE("random byte streams never overrun the buffer bound", "[ws_message_reader]") {
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    ws::message_reader r(256);
    std::vector<std::uint8_t> bytes(2000);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    std::size_t at = 0;
    while (at < bytes.size() && !r.failed()) {
      auto room = r.prepare(37);
      REQUIRE(room.size() <= r.buffer_limit());
      if (room.empty()) break;
      const std::size_t n = std::min({room.size(), std::size_t{37}, bytes.size() - at});
      std::memcpy(room.data(), bytes.data() + at, n);
      r.commit(n);
      at += n;
      while (r.next().what != kind::none) {
      }
      r.compact();
      CHECK(r.pending() <= r.buffer_limit());
    }
  }
}
