// Whom a bus event reaches: the one mapping from the readers of an item, or the recipients a
// notify request names, to a cm::event's target (users, everyone, or a group's audience).
#pragma once
#include <cstdint>
#include <string>

#include "connection_manager/event.hpp"
#include "proto/notification.hpp"
#include "proto/notify_request.hpp"

namespace herald::gateway {

// An event aimed at the readers of one item: personal, its user; broadcast, everyone; group,
// the sessions of its audience (canonical path).
cm::event event_for(cm::event_type type, proto::item_kind kind, std::uint64_t user_id,
                    const std::string& audience);

// An event aimed at the recipients of a notify request: its user or users, everyone, or its
// group. The same targets as the items the request stores (one personal item per user).
cm::event event_for(cm::event_type type, const proto::notify_request& r);

}  // namespace herald::gateway
