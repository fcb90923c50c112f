#include "connection_manager/event_codec.hpp"

#include <nlohmann/json.hpp>

namespace herald::cm {
namespace {

constexpr std::uint64_t max_safe_id = (std::uint64_t{1} << 53) - 1;

const char* type_name(event_type t) {
  switch (t) {
    case event_type::notification:
      return "notification";
    case event_type::desktop:
      return "desktop";
    case event_type::count_changed:
      return "count";
    case event_type::revoke:
      return "revoke";
    case event_type::state:
      return "state";
  }
  return "";
}

const char* target_name(event_target t) {
  switch (t) {
    case event_target::users:
      return "users";
    case event_target::everyone:
      return "everyone";
    case event_target::group:
      return "group";
  }
  return "";
}

std::optional<event_type> parse_type(const std::string& s) {
  if (s == "notification") return event_type::notification;
  if (s == "desktop") return event_type::desktop;
  if (s == "count") return event_type::count_changed;
  if (s == "revoke") return event_type::revoke;
  if (s == "state") return event_type::state;
  return std::nullopt;
}

std::optional<event_target> parse_target(const std::string& s) {
  if (s == "users") return event_target::users;
  if (s == "everyone") return event_target::everyone;
  if (s == "group") return event_target::group;
  return std::nullopt;
}

bool is_id(const nlohmann::json& j) {
  return j.is_number_unsigned() && j.get<std::uint64_t>() <= max_safe_id;
}

}  // namespace

std::string encode_event(const event& e, std::string_view origin) {
  nlohmann::json j = nlohmann::json::object();
  j["v"] = event_codec_version;
  j["node"] = origin;
  j["type"] = type_name(e.type);
  j["target"] = target_name(e.target);
  if (e.target == event_target::users) j["users"] = e.users;
  if (e.target == event_target::group) j["group"] = e.group;
  if (e.id != 0) j["id"] = e.id;
  if (e.payload) j["payload"] = *e.payload;
  if (e.seq != 0) j["seq"] = e.seq;
  if (!e.audience.empty()) j["aud"] = e.audience;
  // Payloads are UTF-8 built by proto; replace rather than throw on anything else.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<bus_message> decode_event(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;

  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<std::int64_t>() != event_codec_version) {
    return std::nullopt;
  }
  auto node = j.find("node");
  auto type = j.find("type");
  auto target = j.find("target");
  if (node == j.end() || !node->is_string() || type == j.end() || !type->is_string() ||
      target == j.end() || !target->is_string()) {
    return std::nullopt;
  }
  auto t = parse_type(type->get<std::string>());
  auto to = parse_target(target->get<std::string>());
  if (!t || !to) return std::nullopt;

  bus_message m;
  m.origin = node->get<std::string>();
  m.ev.type = *t;
  m.ev.target = *to;

  if (*to == event_target::users) {
    auto users = j.find("users");
    if (users == j.end() || !users->is_array() || users->empty()) return std::nullopt;
    m.ev.users.reserve(users->size());
    for (const auto& u : *users) {
      if (!is_id(u) || u.get<std::uint64_t>() == 0) return std::nullopt;
      m.ev.users.push_back(u.get<std::uint64_t>());
    }
  } else if (j.contains("users")) {
    return std::nullopt;
  }
  if (*to == event_target::group) {
    auto group = j.find("group");
    if (group == j.end() || !group->is_string() || group->get_ref<const std::string&>().empty()) {
      return std::nullopt;
    }
    m.ev.group = group->get<std::string>();
  } else if (j.contains("group")) {
    return std::nullopt;
  }
  if (auto id = j.find("id"); id != j.end()) {
    if (!is_id(*id)) return std::nullopt;
    m.ev.id = id->get<std::uint64_t>();
  }
  if (auto payload = j.find("payload"); payload != j.end()) {
    if (!payload->is_string()) return std::nullopt;
    m.ev.payload = std::make_shared<const std::string>(payload->get<std::string>());
  }
  if (auto seq = j.find("seq"); seq != j.end()) {
    if (!is_id(*seq)) return std::nullopt;
    m.ev.seq = seq->get<std::uint64_t>();
  }
  if (auto aud = j.find("aud"); aud != j.end()) {
    if (!aud->is_string()) return std::nullopt;
    m.ev.audience = aud->get<std::string>();
  }
  return m;
}

}  // namespace herald::cm
