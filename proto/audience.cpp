#include "proto/audience.hpp"

#include <algorithm>

namespace herald::proto {
namespace {

constexpr std::size_t max_pairs = 8;

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }

// Splits "kind/id" at its only slash; nullopt unless both halves are valid.
std::optional<group_pair> parse_single_pair(std::string_view entry) {
  const auto slash = entry.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  const auto kind = entry.substr(0, slash);
  const auto id = entry.substr(slash + 1);
  if (!valid_group_kind(kind) || !valid_group_id(id)) return std::nullopt;
  return group_pair{std::string(kind), std::string(id)};
}

}  // namespace

bool valid_group_kind(std::string_view kind) {
  if (kind.empty() || kind.size() > 32 || !is_lower(kind.front())) return false;
  return std::all_of(kind.begin(), kind.end(),
                     [](char c) { return is_lower(c) || is_digit(c) || c == '_'; });
}

bool valid_group_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return is_lower(c) || is_upper(c) || is_digit(c) || c == '_' || c == '-';
  });
}

group_set group_set::from_claims(const std::vector<std::string>& entries) {
  group_set set;
  set.pairs_.reserve(entries.size());
  for (const auto& entry : entries) {
    if (auto pair = parse_single_pair(entry)) set.pairs_.push_back(std::move(*pair));
  }
  std::sort(set.pairs_.begin(), set.pairs_.end());
  set.pairs_.erase(std::unique(set.pairs_.begin(), set.pairs_.end()), set.pairs_.end());
  return set;
}

bool group_set::contains(const group_pair& p) const {
  return std::binary_search(pairs_.begin(), pairs_.end(), p);
}

void group_set::insert(group_pair p) {
  const auto at = std::lower_bound(pairs_.begin(), pairs_.end(), p);
  if (at != pairs_.end() && *at == p) return;
  pairs_.insert(at, std::move(p));
}

std::optional<audience> audience::parse(std::string_view path, std::string* why) {
  auto fail = [why](const char* reason) -> std::optional<audience> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (path.empty()) return fail("audience is empty");

  audience result;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    if (result.pairs_.size() == max_pairs) return fail("audience has more than 8 kind/id pairs");
    const auto kind_end = path.find('/', pos);
    if (kind_end == std::string_view::npos) {
      return fail("audience must be kind/id pairs: a kind has no id");
    }
    const auto kind = path.substr(pos, kind_end - pos);
    auto id_end = path.find('/', kind_end + 1);
    if (id_end == std::string_view::npos) id_end = path.size();
    const auto id = path.substr(kind_end + 1, id_end - kind_end - 1);
    if (!valid_group_kind(kind)) {
      return fail("audience kind must match [a-z][a-z0-9_]{0,31}");
    }
    if (!valid_group_id(id)) return fail("audience id must match [A-Za-z0-9_-]{1,64}");
    result.pairs_.push_back(group_pair{std::string(kind), std::string(id)});
    if (id_end == path.size()) break;
    pos = id_end + 1;
    if (pos == path.size()) return fail("audience must not end with '/'");
  }

  std::sort(result.pairs_.begin(), result.pairs_.end());
  if (std::adjacent_find(result.pairs_.begin(), result.pairs_.end()) != result.pairs_.end()) {
    return fail("audience repeats a kind/id pair");
  }
  return result;
}

std::string audience::canonical() const {
  std::size_t size = 0;
  for (const auto& p : pairs_) size += p.kind.size() + p.id.size() + 2;
  std::string out;
  out.reserve(size);
  for (const auto& p : pairs_) {
    if (!out.empty()) out.push_back('/');
    out.append(p.kind).push_back('/');
    out.append(p.id);
  }
  return out;
}

bool audience::matches(const group_set& groups) const {
  return std::includes(groups.pairs().begin(), groups.pairs().end(), pairs_.begin(), pairs_.end());
}

}  // namespace herald::proto
