// Audience paths and token group claims: a parsed audience's canonical form parses again to
// the same audience, and an audience always matches the group set made of its own pairs.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proto/audience.hpp"

using namespace herald::proto;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string why;
  auto a = audience::parse(text, &why);
  if (!a) {
    if (why.empty()) __builtin_trap();
  } else {
    const std::string canon = a->canonical();
    auto again = audience::parse(canon, &why);
    if (!again || again->canonical() != canon) __builtin_trap();
    if (a->pairs().empty() || a->pairs().size() > 8) __builtin_trap();
    std::vector<std::string> claims;
    for (const auto& p : a->pairs()) claims.push_back(p.str());
    if (!a->matches(group_set::from_claims(claims))) __builtin_trap();
  }
  // The same bytes as a token's groups claim, split on commas.
  std::vector<std::string> entries;
  std::string cur;
  for (char c : text) {
    if (c == ',') {
      entries.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  entries.push_back(cur);
  const auto groups = group_set::from_claims(entries);
  for (const auto& p : groups.pairs()) {
    if (!valid_group_kind(p.kind) || !valid_group_id(p.id)) __builtin_trap();
  }
  return 0;
}
