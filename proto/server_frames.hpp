// Frames the server sends over the WebSocket, encoded as compact JSON. Pure; thread-safe.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "proto/notification.hpp"

namespace herald::proto {

std::string encode_pong();
// {"type":"token_expiring","exp":E} and {"type":"refreshed","exp":E}.
std::string encode_token_expiring(std::int64_t exp);
std::string encode_refreshed(std::int64_t exp);
std::string encode_error_frame(std::string_view code, std::string_view message);
// {"type":"desktop","title":..,"content":..[,"data":{..}]}; data_json empty means absent.
std::string encode_desktop(std::string_view title, std::string_view content,
                           std::string_view data_json);
// {"type":"sync","notifications":[..oldest first..],"more":bool}
std::string encode_sync(std::span<const notification> items, bool more);

// A `notification` frame is shared by every recipient except its unread count, so it is
// encoded once as a prefix, and each session appends its own tail:
//   prefix: {"type":"notification","notification":{...}
//   tail:   ,"unread":N}
std::string encode_notification_prefix(const notification& n);
// Writes the tail into buf (at least 32 bytes); returns its length.
std::size_t encode_notification_tail(std::int64_t unread, char* buf);
// A `count` frame is this prefix and the same tail, so a queued one can be rewritten in place:
//   {"type":"count"  +  ,"unread":N}
inline constexpr std::string_view count_frame_prefix = R"({"type":"count")";

}  // namespace herald::proto
