// Webhook events as the store writes them into its outbox (API.md "Webhooks"): which types are
// enabled (none until the daemon configures a webhook, so that nothing is written without a
// receiver), fresh event ids and each event's JSON. Thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herald::persistence {

enum webhook_type : unsigned {
  webhook_user_offline = 1,
  webhook_user_online = 2,
  webhook_notification_read = 4,
  webhook_notification_delivered = 8,
  webhook_all = 15,
};

// Set once at start (0: webhooks off, the default); read by every store call that raises one.
void set_webhook_types(unsigned mask);
unsigned webhook_types();
inline bool webhook_enabled(webhook_type t) { return (webhook_types() & t) != 0; }

// "user.offline" -> webhook_user_offline; 0 for an unknown name.
unsigned webhook_type_of(std::string_view name);
std::string_view webhook_type_name(webhook_type t);

// 32 random hex digits.
std::string new_event_id();

// {"id":"…","type":"…","at":"RFC 3339","user_id":N[,"notification_id":N][,"unread":N]}
std::string webhook_event_json(webhook_type t, std::int64_t at_ms, std::uint64_t user_id,
                               std::optional<std::uint64_t> notification_id = std::nullopt,
                               std::optional<std::int64_t> unread = std::nullopt);

}  // namespace herald::persistence
