#include "proto/json_depth.hpp"

namespace herald::proto {

std::optional<std::vector<std::string>> json_too_deep(std::string_view text,
                                                      std::size_t max_depth) {
  // Per open level: whether it is an object, and the last key read in it.
  struct level {
    bool object;
    std::string key;
  };
  std::vector<level> open;
  bool expect_key = false;  // the next string in the innermost object is a key
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '"') {
      const std::size_t begin = ++i;
      while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
      if (expect_key && !open.empty() && open.back().object) {
        open.back().key.assign(text.substr(begin, std::min(i, text.size()) - begin));
        expect_key = false;
      }
    } else if (c == '{' || c == '[') {
      if (open.size() >= max_depth) {
        std::vector<std::string> path;
        path.reserve(open.size());
        for (const auto& l : open) path.push_back(l.object ? l.key : std::string());
        return path;
      }
      open.push_back(level{c == '{', {}});
      expect_key = c == '{';
    } else if (c == '}' || c == ']') {
      if (!open.empty()) open.pop_back();
      expect_key = false;
    } else if (c == ',') {
      expect_key = !open.empty() && open.back().object;
    }
  }
  return std::nullopt;
}

std::string deep_field(const std::vector<std::string>& path, std::size_t skip) {
  for (std::size_t i = skip; i < path.size(); ++i) {
    if (!path[i].empty()) return path[i];
  }
  return "body";
}

}  // namespace herald::proto
