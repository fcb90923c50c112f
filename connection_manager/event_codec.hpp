// Serialises a bus event to one compact, versioned JSON message for Redis and back:
//   {"v":1,"node":"a","type":"notification","target":"users","users":[42],"id":7,"payload":"…"}
// `users` appears for the users target, `group` for the group target, `id` when non-zero,
// `payload` when set. Decoding refuses other versions and anything malformed. Pure; thread-safe.
#pragma once
#include <optional>
#include <string>
#include <string_view>

#include "connection_manager/event.hpp"

namespace herald::cm {

// An event as read from the bus, with the node that published it.
struct bus_message {
  std::string origin;
  event ev;
};

inline constexpr int event_codec_version = 1;

std::string encode_event(const event& e, std::string_view origin);
std::optional<bus_message> decode_event(std::string_view text);

}  // namespace herald::cm
