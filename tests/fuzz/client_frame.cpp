// Client frames (the JSON text of a WebSocket message): parsed or refused with a known code.
#include <cstdint>
#include <string_view>

#include "proto/client_frame.hpp"

using namespace herald::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = parse_client_frame(std::string_view(reinterpret_cast<const char*>(data), size));
  if (auto* e = std::get_if<frame_error>(&r)) {
    if (e->code != "invalid_frame" && e->code != "unknown_type" && e->code != "invalid_argument")
      __builtin_trap();
    if (e->message.empty()) __builtin_trap();
  } else {
    const auto& f = std::get<client_frame>(r);
    if ((f.type == client_frame_type::read || f.type == client_frame_type::remove) && f.id == 0)
      __builtin_trap();
  }
  return 0;
}
