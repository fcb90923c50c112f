// Small writers for hand-built compact JSON on hot paths (items, frames). Pure; thread-safe.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace herald::proto {

// Appends s as a JSON string literal (quotes included). Bytes that are not valid UTF-8 are
// written as U+FFFD so the output is always valid JSON and a valid WebSocket text payload.
void append_json_string(std::string& out, std::string_view s);
void append_json_int(std::string& out, std::int64_t v);
void append_json_uint(std::string& out, std::uint64_t v);

// Number of Unicode code points in s, or -1 when s is not valid UTF-8 (overlongs, surrogates
// and values past U+10FFFF are invalid).
std::int64_t utf8_code_points(std::string_view s);

}  // namespace herald::proto
