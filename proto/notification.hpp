// A stored notification ("item" in the API) and its JSON encoding. Pure values; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace herald::proto {

enum class item_kind { personal, broadcast, group };
enum class retention { normal, important };

std::string_view to_string(item_kind k);
std::string_view to_string(retention r);

struct notification {
  std::uint64_t id = 0;
  item_kind kind = item_kind::personal;
  std::uint64_t user_id = 0;  // personal items only, else 0
  std::string audience;       // group items only: canonical path, else empty
  std::string title;
  std::string content;
  std::optional<std::string> sender;
  std::string data_json;           // compact JSON object, empty when absent
  std::int64_t created_at_ms = 0;  // Unix epoch milliseconds
  bool read = false;               // for the user it is shown to
  retention keep = retention::normal;
  std::optional<std::int64_t> expires_at_ms;  // nullopt for important items
  bool desktop = true;
  std::uint64_t seq = 0;  // state-event seq (API.md v1.1); 0: not encoded
  // Receipts for the user it is shown to: when they read it / first acked it (nullopt: not).
  std::optional<std::int64_t> read_at_ms;
  std::optional<std::int64_t> delivered_at_ms;
  bool own_view = true;  // false in the admin view: no delivered_at
};

// Appends the item's JSON object (API.md "Item") to out.
void encode_item(const notification& n, std::string& out);
std::string encode_item(const notification& n);
// The items as a JSON array, appended to `out`: `[item,item,...]`.
void encode_items(std::span<const notification> items, std::string& out);

// RFC 3339 UTC with milliseconds: 2026-11-22T13:45:40.123Z
std::string format_time_ms(std::int64_t epoch_ms);

}  // namespace herald::proto
