#include "proto/server_frames.hpp"

#include <charconv>

#include "proto/json_text.hpp"

namespace herald::proto {

std::string encode_pong() { return R"({"type":"pong"})"; }

std::string encode_token_expiring(std::int64_t exp) {
  return R"({"type":"token_expiring","exp":)" + std::to_string(exp) + "}";
}

std::string encode_refreshed(std::int64_t exp) {
  return R"({"type":"refreshed","exp":)" + std::to_string(exp) + "}";
}

std::string encode_error_frame(std::string_view code, std::string_view message) {
  std::string out;
  out.reserve(40 + code.size() + message.size());
  out.append(R"({"type":"error","code":)");
  append_json_string(out, code);
  out.append(R"(,"message":)");
  append_json_string(out, message);
  out.push_back('}');
  return out;
}

std::string encode_desktop(std::string_view title, std::string_view content,
                           std::string_view data_json) {
  std::string out;
  out.reserve(48 + title.size() + content.size() + data_json.size());
  out.append(R"({"type":"desktop","title":)");
  append_json_string(out, title);
  out.append(R"(,"content":)");
  append_json_string(out, content);
  if (!data_json.empty()) out.append(R"(,"data":)").append(data_json);
  out.push_back('}');
  return out;
}

std::string encode_sync(std::span<const notification> items, bool more) {
  std::string out;
  out.reserve(48 + items.size() * 320);
  out.append(R"({"type":"sync","notifications":)");
  encode_items(items, out);
  out.append(R"(,"more":)").append(more ? "true" : "false");
  out.push_back('}');
  return out;
}

std::string encode_notification_prefix(const notification& n) {
  // A new item's seq is its id (ids and seqs come from one sequence) unless a later change is
  // known; the frame carries it at the top level (the item as the inbox lists it).
  std::string out;
  out.append(R"({"type":"notification","seq":)");
  append_json_uint(out, n.seq != 0 ? n.seq : n.id);
  out.append(R"(,"notification":)");
  encode_item(n, out);
  return out;
}

std::size_t encode_notification_tail(std::int64_t unread, char* buf) {
  static constexpr std::string_view head = R"(,"unread":)";
  char* at = buf;
  for (char c : head) *at++ = c;
  at = std::to_chars(at, buf + 31, unread).ptr;
  *at++ = '}';
  return static_cast<std::size_t>(at - buf);
}

}  // namespace herald::proto
