// Validation of notify bodies. Choices where API.md is silent:
// - Unknown fields are ignored, so senders may carry extra metadata and newer clients keep
//   working against older gateways (as Novu and Centrifugo do).
// - A field set to JSON null counts as absent (it takes its default), targets included.
// - `sender` is at most 200 code points; `ttl_s` at most 100 years; ids are JSON integers
//   (42.0, "42" and 1e2 are refused).
#include "proto/notify_request.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "proto/json_depth.hpp"
#include "proto/json_text.hpp"

namespace herald::proto {
namespace {

using json = nlohmann::json;

constexpr std::int64_t max_title_code_points = 200;
constexpr std::int64_t max_sender_code_points = 200;
constexpr std::size_t max_content_bytes = 16384;
constexpr std::size_t max_data_bytes = 4096;
constexpr std::size_t max_user_ids = 1000;
constexpr std::size_t max_idempotency_key_bytes = 255;
constexpr std::size_t max_batch_entries = 1000;
constexpr std::int64_t max_ttl_s = std::int64_t{100} * 365 * 86400;

// A JSON integer in [1, max]; false for floats, strings, negatives, zero and larger values.
bool positive_integer(const json& v, std::uint64_t max, std::uint64_t& out) {
  if (v.is_number_unsigned()) {
    out = v.get<std::uint64_t>();
  } else if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s <= 0) return false;
    out = static_cast<std::uint64_t>(s);
  } else {
    return false;
  }
  return out >= 1 && out <= max;
}

// Null or missing: absent.
const json* field(const json& obj, const char* name) {
  const auto it = obj.find(name);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<api_error> parse_target(const json& body, notify_request& r) {
  const json* user_id = field(body, "user_id");
  const json* user_ids = field(body, "user_ids");
  const json* aud = field(body, "audience");
  const int targets = (user_id != nullptr) + (user_ids != nullptr) + (aud != nullptr);
  if (targets != 1) {
    const char* name = targets == 0 || user_id ? "user_id" : "user_ids";
    return invalid_argument(name, targets == 0
                                      ? "one target is required: user_id, user_ids or audience"
                                      : "give exactly one of user_id, user_ids and audience");
  }

  if (user_id) {
    if (user_id->is_number_integer() && !user_id->is_number_unsigned() &&
        user_id->get<std::int64_t>() == -1) {
      r.target = target_kind::everyone;
      return std::nullopt;
    }
    if (!positive_integer(*user_id, max_safe_id, r.user_id)) {
      return invalid_argument("user_id",
                              "user_id must be an integer from 1 to 2^53-1, or -1 for everyone");
    }
    r.target = target_kind::user;
    return std::nullopt;
  }

  if (user_ids) {
    if (!user_ids->is_array() || user_ids->empty() || user_ids->size() > max_user_ids) {
      return invalid_argument("user_ids", "user_ids must be an array of 1 to 1000 user ids");
    }
    r.user_ids.reserve(user_ids->size());
    for (const auto& v : *user_ids) {
      std::uint64_t id = 0;
      if (!positive_integer(v, max_safe_id, id)) {
        return invalid_argument("user_ids", "each user id must be an integer from 1 to 2^53-1");
      }
      r.user_ids.push_back(id);
    }
    std::vector<std::uint64_t> sorted = r.user_ids;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) {
      return invalid_argument("user_ids", "user_ids must not repeat a user id");
    }
    r.target = target_kind::users;
    return std::nullopt;
  }

  if (!aud->is_string()) {
    return invalid_argument("audience", "audience must be a string such as \"org/1/role/3\"");
  }
  const auto& path = aud->get_ref<const std::string&>();
  if (path == "*") {
    r.target = target_kind::everyone;
    return std::nullopt;
  }
  std::string why;
  r.group = audience::parse(path, &why);
  if (!r.group) return invalid_argument("audience", why);
  r.target = target_kind::group;
  return std::nullopt;
}

std::optional<api_error> parse_texts(const json& body, notify_request& r) {
  const json* title = field(body, "title");
  if (!title) return invalid_argument("title", "title is required");
  if (!title->is_string()) return invalid_argument("title", "title must be a string");
  r.title = title->get_ref<const std::string&>();
  const auto title_len = utf8_code_points(r.title);
  if (title_len < 0) return invalid_argument("title", "title is not valid UTF-8");
  if (title_len == 0 || title_len > max_title_code_points) {
    return invalid_argument("title", "title must be 1 to 200 characters");
  }

  if (const json* content = field(body, "content")) {
    if (!content->is_string()) return invalid_argument("content", "content must be a string");
    const auto& text = content->get_ref<const std::string&>();
    if (text.size() > max_content_bytes) {
      return invalid_argument("content", "content must be at most 16384 bytes");
    }
    if (utf8_code_points(text) < 0) {
      return invalid_argument("content", "content is not valid UTF-8");
    }
    r.content = text;
  }

  if (const json* sender = field(body, "sender")) {
    if (!sender->is_string()) return invalid_argument("sender", "sender must be a string");
    const auto& text = sender->get_ref<const std::string&>();
    const auto len = utf8_code_points(text);
    if (len < 0) return invalid_argument("sender", "sender is not valid UTF-8");
    if (len > max_sender_code_points) {
      return invalid_argument("sender", "sender must be at most 200 characters");
    }
    r.sender = text;
  }

  if (const json* data = field(body, "data")) {
    if (!data->is_object()) return invalid_argument("data", "data must be a JSON object");
    try {
      r.data_json = data->dump();
    } catch (const json::exception&) {
      return invalid_argument("data", "data is not valid UTF-8");
    }
    if (r.data_json.size() > max_data_bytes) {
      return invalid_argument("data", "data must be at most 4096 bytes as compact JSON");
    }
  }
  return std::nullopt;
}

std::optional<api_error> parse_options(const json& body, notify_request& r) {
  if (const json* persist = field(body, "persist")) {
    if (!persist->is_boolean()) return invalid_argument("persist", "persist must be a boolean");
    r.persist = persist->get<bool>();
  }
  if (const json* desktop = field(body, "desktop")) {
    if (!desktop->is_boolean()) return invalid_argument("desktop", "desktop must be a boolean");
    r.desktop = desktop->get<bool>();
  }
  if (const json* keep = field(body, "retention")) {
    const std::string* value = keep->is_string() ? keep->get_ptr<const std::string*>() : nullptr;
    if (value && *value == "normal") {
      r.keep = retention::normal;
    } else if (value && *value == "important") {
      r.keep = retention::important;
    } else {
      return invalid_argument("retention", "retention must be \"normal\" or \"important\"");
    }
  }
  if (const json* ttl = field(body, "ttl_s")) {
    std::uint64_t seconds = 0;
    if (!positive_integer(*ttl, max_ttl_s, seconds)) {
      return invalid_argument("ttl_s", "ttl_s must be an integer from 1 to 3153600000 seconds");
    }
    if (r.keep == retention::important) {
      return invalid_argument("ttl_s", "ttl_s cannot be used with retention \"important\"");
    }
    r.ttl_s = static_cast<std::int64_t>(seconds);
  }
  if (const json* key = field(body, "idempotency_key")) {
    if (!key->is_string()) {
      return invalid_argument("idempotency_key", "idempotency_key must be a string");
    }
    const auto& text = key->get_ref<const std::string&>();
    if (text.empty() || text.size() > max_idempotency_key_bytes) {
      return invalid_argument("idempotency_key", "idempotency_key must be 1 to 255 bytes");
    }
    r.idempotency_key = text;
  }
  return std::nullopt;
}

}  // namespace

notify_parse_result parse_notify_json(const json& value) {
  if (!value.is_object()) return invalid_argument("body", "the body must be a JSON object");
  notify_request r;
  if (auto e = parse_target(value, r)) return std::move(*e);
  if (auto e = parse_texts(value, r)) return std::move(*e);
  if (auto e = parse_options(value, r)) return std::move(*e);
  return r;
}

static api_error too_deep(const std::string& field) {
  return invalid_argument(field, field == "body" ? "the body nests deeper than 32 levels"
                                                 : field + " nests deeper than 32 levels");
}

notify_parse_result parse_notify(std::string_view body) {
  if (auto path = json_too_deep(body)) return too_deep(deep_field(*path));
  const json value = json::parse(body.begin(), body.end(), nullptr, false);
  if (value.is_discarded()) return invalid_argument("body", "the body is not valid JSON");
  return parse_notify_json(value);
}

std::variant<std::vector<notify_parse_result>, api_error> parse_notify_batch(
    std::string_view body) {
  // The two levels of {"notifications":[ ... ]} do not count against an entry's depth.
  if (auto path = json_too_deep(body, max_json_depth + 2)) {
    // The path runs through {"notifications":[ ... ]}: name the entry's field.
    std::string field = deep_field(*path, 2);
    if (field == "body" && !path->empty() && !(*path)[0].empty()) field = (*path)[0];
    return too_deep(field);
  }
  const json value = json::parse(body.begin(), body.end(), nullptr, false);
  if (value.is_discarded()) return invalid_argument("body", "the body is not valid JSON");
  if (!value.is_object()) return invalid_argument("body", "the body must be a JSON object");
  const auto it = value.find("notifications");
  if (it == value.end() || !it->is_array() || it->empty() || it->size() > max_batch_entries) {
    return invalid_argument("notifications",
                            "notifications must be an array of 1 to 1000 notify bodies");
  }
  std::vector<notify_parse_result> results;
  results.reserve(it->size());
  for (const auto& entry : *it) results.push_back(parse_notify_json(entry));
  return results;
}

std::string encode_notify_answer(const notify_request& r, const std::vector<std::uint64_t>& ids,
                                 std::int64_t online) {
  std::string out;
  if (r.target == target_kind::users) {
    out.reserve(32 + r.user_ids.size() * 17);
    out.append(R"({"ids":[)");
    for (std::size_t i = 0; i < r.user_ids.size(); ++i) {
      if (i) out.push_back(',');
      if (i < ids.size()) {
        append_json_uint(out, ids[i]);
      } else {
        out.append("null");
      }
    }
    out.push_back(']');
  } else {
    out.append(R"({"id":)");
    if (ids.empty()) {
      out.append("null");
    } else {
      append_json_uint(out, ids.front());
    }
  }
  out.append(R"(,"online":)");
  append_json_int(out, online);
  out.push_back('}');
  return out;
}

}  // namespace herald::proto
