// Frames a browser sends over the WebSocket. Pure functions; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace herald::proto {

enum class client_frame_type { ping, read, read_all, remove, sync, refresh, ack };

struct client_frame {
  client_frame_type type = client_frame_type::ping;
  std::uint64_t id = 0;                        // read, remove ("delete")
  std::uint64_t since = 0;                     // sync (0 allowed)
  std::optional<std::uint64_t> changes_since;  // sync: also the changes after this seq
  std::string token;                           // refresh: the new JWT
  std::vector<std::uint64_t> ids;              // ack: 1..100 ids
};

struct frame_error {
  std::string code;  // invalid_frame, unknown_type, invalid_argument
  std::string message;
};

std::variant<client_frame, frame_error> parse_client_frame(std::string_view text);

}  // namespace herald::proto
