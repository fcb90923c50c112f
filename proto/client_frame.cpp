#include "proto/client_frame.hpp"

#include <nlohmann/json.hpp>

#include "proto/json_depth.hpp"

namespace herald::proto {
namespace {

using json = nlohmann::json;

// A JSON integer >= min (floats and strings refused).
bool read_integer(const json& obj, const char* name, std::uint64_t min, std::uint64_t& out) {
  const auto it = obj.find(name);
  if (it == obj.end()) return false;
  if (it->is_number_unsigned()) {
    out = it->get<std::uint64_t>();
  } else if (it->is_number_integer()) {
    const auto v = it->get<std::int64_t>();
    if (v < 0) return false;
    out = static_cast<std::uint64_t>(v);
  } else {
    return false;
  }
  return out >= min;
}

frame_error error(const char* code, std::string message) {
  return frame_error{code, std::move(message)};
}

}  // namespace

std::variant<client_frame, frame_error> parse_client_frame(std::string_view text) {
  if (auto path = json_too_deep(text)) {
    const std::string field = deep_field(*path);
    return error("invalid_argument",
                 (field == "body" ? std::string("the frame") : "\"" + field + "\"") +
                     " nests deeper than 32 levels");
  }
  const json value = json::parse(text.begin(), text.end(), nullptr, false);
  if (value.is_discarded()) return error("invalid_frame", "the frame is not valid JSON");
  if (!value.is_object()) return error("invalid_frame", "the frame must be a JSON object");
  const auto type_it = value.find("type");
  if (type_it == value.end() || !type_it->is_string()) {
    return error("invalid_frame", "the frame needs a string \"type\"");
  }
  const auto& type = type_it->get_ref<const std::string&>();

  client_frame frame;
  if (type == "ping") {
    frame.type = client_frame_type::ping;
  } else if (type == "read_all") {
    frame.type = client_frame_type::read_all;
  } else if (type == "read" || type == "delete") {
    frame.type = type == "read" ? client_frame_type::read : client_frame_type::remove;
    if (!read_integer(value, "id", 1, frame.id)) {
      return error("invalid_argument", "\"" + type + "\" needs a positive integer \"id\"");
    }
  } else if (type == "sync") {
    frame.type = client_frame_type::sync;
    if (!read_integer(value, "since", 0, frame.since)) {
      return error("invalid_argument", "\"sync\" needs a non-negative integer \"since\"");
    }
    if (value.contains("changes_since")) {
      std::uint64_t s = 0;
      if (!read_integer(value, "changes_since", 0, s) || s > (std::uint64_t{1} << 53) - 1) {
        return error("invalid_argument", "\"changes_since\" must be a non-negative integer seq");
      }
      frame.changes_since = s;
    }
  } else if (type == "ack") {
    // Receipts (API.md v1.1): 1..100 positive ids; never answered.
    frame.type = client_frame_type::ack;
    const auto ids = value.find("ids");
    bool ok = ids != value.end() && ids->is_array() && !ids->empty() && ids->size() <= 100;
    for (std::size_t i = 0; ok && i < ids->size(); ++i) {
      const auto& v = (*ids)[i];
      ok = (v.is_number_unsigned() && v.get<std::uint64_t>() > 0) ||
           (v.is_number_integer() && v.get<std::int64_t>() > 0);
      if (ok) frame.ids.push_back(v.get<std::uint64_t>());
    }
    if (!ok)
      return error("invalid_argument", "\"ack\" needs \"ids\": 1 to 100 positive integer ids");
  } else if (type == "refresh") {
    frame.type = client_frame_type::refresh;
    const auto tok = value.find("token");
    if (tok == value.end() || !tok->is_string() || tok->get_ref<const std::string&>().empty()) {
      return error("invalid_argument", "\"refresh\" needs a string \"token\"");
    }
    frame.token = tok->get<std::string>();
  } else {
    return error("unknown_type", "unknown frame type");
  }
  return frame;
}

}  // namespace herald::proto
