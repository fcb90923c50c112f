#include "persistence/webhook_events.hpp"

#include <atomic>
#include <random>

#include "proto/json_text.hpp"
#include "proto/notification.hpp"

namespace herald::persistence {
namespace {
std::atomic<unsigned> types_enabled{0};
}

void set_webhook_types(unsigned mask) { types_enabled = mask & webhook_all; }
unsigned webhook_types() { return types_enabled.load(std::memory_order_relaxed); }

unsigned webhook_type_of(std::string_view name) {
  if (name == "user.offline") return webhook_user_offline;
  if (name == "user.online") return webhook_user_online;
  if (name == "notification.read") return webhook_notification_read;
  if (name == "notification.delivered") return webhook_notification_delivered;
  return 0;
}

std::string_view webhook_type_name(webhook_type t) {
  switch (t) {
    case webhook_user_offline:
      return "user.offline";
    case webhook_user_online:
      return "user.online";
    case webhook_notification_read:
      return "notification.read";
    case webhook_notification_delivered:
      return "notification.delivered";
    default:
      return "";
  }
}

std::string new_event_id() {
  static thread_local std::mt19937_64 rng{[] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }()};
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (int w = 0; w < 2; ++w) {
    auto v = rng();
    for (int i = 0; i < 16; ++i, v >>= 4) out.push_back(hex[v & 15]);
  }
  return out;
}

std::string webhook_event_json(webhook_type t, std::int64_t at_ms, std::uint64_t user_id,
                               std::optional<std::uint64_t> notification_id,
                               std::optional<std::int64_t> unread) {
  std::string out = R"({"id":")" + new_event_id() + R"(","type":")";
  out.append(webhook_type_name(t));
  out.append(R"(","at":")").append(proto::format_time_ms(at_ms)).append(R"(","user_id":)");
  proto::append_json_uint(out, user_id);
  if (notification_id) {
    out.append(R"(,"notification_id":)");
    proto::append_json_uint(out, *notification_id);
  }
  if (unread) {
    out.append(R"(,"unread":)");
    proto::append_json_int(out, *unread);
  }
  out.push_back('}');
  return out;
}

}  // namespace herald::persistence
