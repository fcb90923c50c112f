#include "proto/state_frames.hpp"

#include "proto/json_text.hpp"

namespace herald::proto {

std::string_view to_string(removal_reason r) {
  switch (r) {
    case removal_reason::deleted:
      return "deleted";
    case removal_reason::retracted:
      return "retracted";
    case removal_reason::expired:
      return "expired";
  }
  return "deleted";
}

void encode_state(const state_change& c, std::string& out) {
  switch (c.type) {
    case change_type::read:
      out.append(R"({"type":"changed","id":)");
      append_json_uint(out, c.id);
      out.append(R"(,"read":true)");
      break;
    case change_type::read_all:
      out.append(R"({"type":"read_all","up_to":)");
      append_json_uint(out, c.id);
      break;
    case change_type::removed:
      out.append(R"({"type":"removed","id":)");
      append_json_uint(out, c.id);
      out.append(R"(,"reason":")").append(to_string(c.reason)).push_back('"');
      break;
  }
  out.append(R"(,"seq":)");
  append_json_uint(out, c.seq);
  out.push_back('}');
}

std::string encode_state(const state_change& c) {
  std::string out;
  out.reserve(72);
  encode_state(c, out);
  return out;
}

std::string encode_sync_with_changes(std::span<const notification> items,
                                     std::span<const state_change> changes, bool more, bool reset) {
  std::string out;
  out.reserve(64 + items.size() * 320 + changes.size() * 64);
  out.append(R"({"type":"sync","notifications":)");
  encode_items(items, out);
  out.append(R"(,"changes":[)");
  bool first = true;
  for (const auto& c : changes) {
    if (!first) out.push_back(',');
    first = false;
    encode_state(c, out);
  }
  out.append(R"(],"more":)").append(more ? "true" : "false");
  if (reset) out.append(R"(,"reset":true)");
  out.push_back('}');
  return out;
}

}  // namespace herald::proto
