// Cheap field lookups in the JSON text of a frame, so the hot receive path does not build a DOM
// for every one of thousands of frames. Keys are matched as "key" anywhere in the text, so use
// keys that occur once (the bench tags its payloads with bench_* keys).
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>

namespace herald::bench {

// The raw (unescaped) string value of "key", or nullopt.
std::optional<std::string_view> scan_string_field(std::string_view text, std::string_view key);
// The integer value of "key", or nullopt when absent or not an integer.
std::optional<std::int64_t> scan_int_field(std::string_view text, std::string_view key);

}  // namespace herald::bench
