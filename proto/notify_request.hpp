// POST /v1/notify and /v1/notify/batch bodies: parsed and fully validated before any side
// effect. Pure functions; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "proto/api_error.hpp"
#include "proto/audience.hpp"
#include "proto/notification.hpp"

namespace herald::proto {

inline constexpr std::uint64_t max_safe_id = (std::uint64_t{1} << 53) - 1;

enum class target_kind { user, users, everyone, group };

struct notify_request {
  target_kind target = target_kind::user;
  std::uint64_t user_id = 0;             // target_kind::user
  std::vector<std::uint64_t> user_ids;   // target_kind::users, unique, 1..1000
  std::optional<proto::audience> group;  // target_kind::group
  std::string title;                     // 1..200 code points
  std::string content;                   // <= 16384 bytes, default ""
  std::optional<std::string> sender;
  std::string data_json;  // compact object <= 4096 bytes, empty when absent
  bool persist = true;
  bool desktop = true;
  retention keep = retention::normal;
  std::optional<std::int64_t> ttl_s;           // positive; only with retention normal
  std::optional<std::string> idempotency_key;  // 1..255 bytes
};

using notify_parse_result = std::variant<notify_request, api_error>;

// Parses one notify body (a JSON text).
notify_parse_result parse_notify(std::string_view body);
// Validates one already-parsed JSON value (a batch entry).
notify_parse_result parse_notify_json(const nlohmann::json& value);

// Parses {"notifications":[...]} with 1..1000 entries. A body that is not that shape is one
// api_error (field "body" or "notifications"); otherwise one result per entry.
std::variant<std::vector<notify_parse_result>, api_error> parse_notify_batch(std::string_view body);

// The 200 answer: {"id":N|null,"online":K}, or {"ids":[..],"online":K} for user_ids (ids null
// when not persisted). `ids` is empty when persist is false.
std::string encode_notify_answer(const notify_request& r, const std::vector<std::uint64_t>& ids,
                                 std::int64_t online);

}  // namespace herald::proto
