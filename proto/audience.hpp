// Group audiences ("org/1/role/3") and a token's group set. Pure values; thread-safe.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herald::proto {

struct group_pair {
  std::string kind;  // [a-z][a-z0-9_]{0,31}
  std::string id;    // [A-Za-z0-9_-]{1,64}
  std::string str() const { return kind + "/" + id; }
  auto operator<=>(const group_pair&) const = default;
};

// A set of pairs, kept sorted (by kind, then id) and unique.
class group_set {
 public:
  group_set() = default;
  // From a token's `groups` claim: each valid "kind/id" entry is kept, anything else ignored.
  static group_set from_claims(const std::vector<std::string>& entries);
  bool contains(const group_pair& p) const;
  const std::vector<group_pair>& pairs() const { return pairs_; }
  bool empty() const { return pairs_.empty(); }
  void insert(group_pair p);

 private:
  std::vector<group_pair> pairs_;
};

// An audience path: 1..8 pairs, compared as a set. Canonical form sorts pairs by kind then id.
class audience {
 public:
  // Parses "kind/id[/kind/id...]". On failure returns nullopt and sets *why.
  static std::optional<audience> parse(std::string_view path, std::string* why);
  const std::vector<group_pair>& pairs() const { return pairs_; }
  std::string canonical() const;
  // True when every pair of this audience is in `groups`.
  bool matches(const group_set& groups) const;

 private:
  std::vector<group_pair> pairs_;  // sorted, unique
};

bool valid_group_kind(std::string_view kind);
bool valid_group_id(std::string_view id);

}  // namespace herald::proto
