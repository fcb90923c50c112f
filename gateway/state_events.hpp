// State events (API.md v1.1 "State events"): the bus events that carry `changed`, `read_all`
// and `removed` frames to the connections of a change's scope, and the sync frames that carry
// missed changes. Published before the count event a change causes, on the same channel, so
// every connection gets the state frame before the `count` frame. Pure; thread-safe.
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "connection_manager/event.hpp"
#include "persistence/store.hpp"
#include "proto/state_frames.hpp"

namespace herald::gateway {

// A user's own change (read, read-all, delete): every connection of that user, no one else.
cm::event state_event_for_user(std::uint64_t user_id, const proto::state_change& c);
// Whether a connection with `groups` may get a user's state frame about an item of `audience`
// (cm::event::audience: empty for personal items, broadcasts and read_all).
bool state_visible(const std::string& audience, const proto::group_set& groups);
// A change to the whole item (retraction, expiry): every connection that could see it.
cm::event state_event_for_item(const persistence::item_ref& ref, proto::removal_reason reason);

// The `sync` frame of one page: with `changes` (a changes_since request) it carries them too;
// `more` when either list was cut.
std::string encode_sync_page(std::span<const proto::notification> items, bool items_more,
                             const std::optional<persistence::change_page>& changes);

// `changes_since` of a WebSocket request: nullopt when absent; an error message when it is not
// a seq or comes without `since`.
std::optional<std::string> parse_changes_since(const std::optional<std::string>& raw,
                                               bool has_since, std::optional<std::uint64_t>& out);

}  // namespace herald::gateway
