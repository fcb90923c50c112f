#include "bench/frame_scan.hpp"

#include <charconv>

namespace herald::bench {

namespace {

// Position just after `"key"` followed by optional spaces and a colon and spaces, or npos.
std::size_t value_start(std::string_view text, std::string_view key) {
  std::size_t pos = 0;
  while (true) {
    pos = text.find(key, pos);
    if (pos == std::string_view::npos) return pos;
    const bool quoted = pos > 0 && text[pos - 1] == '"' && pos + key.size() < text.size() &&
                        text[pos + key.size()] == '"';
    std::size_t p = pos + key.size() + 1;
    pos += key.size();
    if (!quoted) continue;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
    if (p >= text.size() || text[p] != ':') continue;
    ++p;
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) ++p;
    return p;
  }
}

}  // namespace

std::optional<std::string_view> scan_string_field(std::string_view text, std::string_view key) {
  const std::size_t p = value_start(text, key);
  if (p == std::string_view::npos || p >= text.size() || text[p] != '"') return std::nullopt;
  const std::size_t end = text.find('"', p + 1);
  if (end == std::string_view::npos) return std::nullopt;
  return text.substr(p + 1, end - p - 1);
}

std::optional<std::int64_t> scan_int_field(std::string_view text, std::string_view key) {
  const std::size_t p = value_start(text, key);
  if (p == std::string_view::npos) return std::nullopt;
  std::int64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data() + p, text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data() + p) return std::nullopt;
  return value;
}

}  // namespace herald::bench
