// The WebSocket read side, stateful: the input is split into chunks (the first byte of each
// chunk is its length) fed to one reader, as a socket's reads would. Checks: the buffer stays
// within its bound, an error ends the stream, and every message is within the size limit
// (valid UTF-8 when it is text).
#include <cstdint>
#include <cstring>

#include "gateway/utf8_validator.hpp"
#include "gateway/ws_message_reader.hpp"

using herald::gateway::valid_utf8;
using herald::gateway::ws::message_reader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  constexpr std::size_t max_message = 512;
  message_reader r(max_message);
  std::size_t at = 0;
  bool errored = false;
  while (at < size) {
    const std::size_t want = 1 + data[at++] % 200;
    const std::size_t n = std::min(want, size - at);
    if (n == 0) break;
    auto room = r.prepare(n);
    if (room.size() > r.buffer_limit()) __builtin_trap();
    if (room.empty()) __builtin_trap();  // a reader always has room for what can still parse
    const std::size_t take = std::min(n, room.size());
    std::memcpy(room.data(), data + at, take);
    r.commit(take);
    at += take;
    for (auto e = r.next(); e.what != message_reader::kind::none; e = r.next()) {
      if (errored) __builtin_trap();  // nothing after an error
      switch (e.what) {
        case message_reader::kind::error:
          errored = true;
          if (e.code != 1002 && e.code != 1007 && e.code != 1009) __builtin_trap();
          break;
        case message_reader::kind::message:
          if (e.payload.size() > max_message) __builtin_trap();
          if (e.opcode == 0x1 && !valid_utf8(e.payload)) __builtin_trap();
          break;
        case message_reader::kind::ping:
        case message_reader::kind::pong:
        case message_reader::kind::close:
          if (e.payload.size() > 125) __builtin_trap();
          break;
        case message_reader::kind::none:
          break;
      }
    }
    if (r.failed()) break;
    r.compact();
    if (r.pending() > r.buffer_limit()) __builtin_trap();
  }
  return 0;
}
